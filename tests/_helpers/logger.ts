/** Loggers for classes constructed directly in tests. */

/** A logger that drops everything (for classes constructed directly in tests). */
export const silentLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
