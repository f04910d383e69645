/** Rows of the settings table: Redis connection. */
import { setting } from "../setting.ts";
import { bool, int, secret, text } from "../fields.ts";
import { clusterNodes, pemFile, redisUrl } from "../connection_fields.ts";

/** Redis settings. */
export const REDIS = {
  redisUrl: setting(
    "REDIS_URL",
    "redis",
    redisUrl(),
    "Full connection URL, `redis://[[user]:password@]host:port/db` or `rediss://` for TLS (db 0–15). When set, " +
      "REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD and REDIS_USERNAME are ignored.",
    { visibility: "url", example: "redis://localhost:6379/0" },
  ),
  redisHost: setting("REDIS_HOST", "redis", text("localhost"), "Redis host name or address."),
  redisPort: setting("REDIS_PORT", "redis", int(6379, 1, 65535), "Redis port."),
  redisDb: setting("REDIS_DB", "redis", int(0, 0, 15), "Redis database number."),
  redisPassword: setting("REDIS_PASSWORD", "redis", secret(), "Redis password; never printed (shown as `***`).", {
    visibility: "secret",
  }),
  redisUsername: setting(
    "REDIS_USERNAME",
    "redis",
    text(),
    "Redis ACL user name for the REDIS_* variables (in REDIS_URL it goes before the password).",
  ),
  redisTls: setting(
    "REDIS_TLS",
    "redis",
    bool(false),
    "TLS to Redis for the REDIS_* variables (REDIS_URL turns it on with `rediss://`).",
  ),
  redisTlsCaFile: setting(
    "REDIS_TLS_CA_FILE",
    "redis",
    pemFile("the system's CAs"),
    "PEM file of the CA(s) that signed the Redis server's certificate; needs TLS on. TLS files (here and in " +
      "DATABASE_URL) must lie in ./certs beside .env or in /etc/db-writer.",
    { example: "/etc/db-writer/redis-ca.pem" },
  ),
  redisTlsCertFile: setting(
    "REDIS_TLS_CERT_FILE",
    "redis",
    pemFile(),
    "PEM client certificate, for a Redis server that requires one (`tls-auth-clients yes`); with REDIS_TLS_KEY_FILE.",
    { example: "/etc/db-writer/redis-client.pem" },
  ),
  redisTlsKeyFile: setting(
    "REDIS_TLS_KEY_FILE",
    "redis",
    pemFile(),
    "PEM private key of REDIS_TLS_CERT_FILE; read at start, never printed.",
    { example: "/etc/db-writer/redis-client.key" },
  ),
  redisClusterNodes: setting(
    "REDIS_CLUSTER_NODES",
    "redis",
    clusterNodes(),
    "Redis Cluster seed nodes, `host:port,host:port` (IPv6 as `[::1]:7000`); turns on cluster mode. The host and " +
      "port of the other Redis settings are then ignored; credentials and TLS still apply; the database must be 0.",
  ),
} as const;
