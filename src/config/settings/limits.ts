/** Rows of the settings table: Input limits. */
import { setting } from "../setting.ts";
import { int } from "../fields.ts";

/** Input limits settings. */
export const LIMITS = {
  maxMessageBytes: setting(
    "MAX_MESSAGE_BYTES",
    "limits",
    int(65_536, 256, 67_108_864),
    "Most bytes (UTF-8) of one entry's field names and values together; a bigger entry is dead-lettered.",
  ),
  maxMessageFields: setting(
    "MAX_MESSAGE_FIELDS",
    "limits",
    int(1000, 4, 100_000),
    "Most fields in one entry; an entry with more is dead-lettered.",
  ),
  maxMetadataBytes: setting(
    "MAX_METADATA_BYTES",
    "limits",
    int(16_384, 2, 16_777_216),
    "Most bytes (UTF-8) of the metadata field; bigger metadata is dead-lettered.",
  ),
  maxMetadataDepth: setting(
    "MAX_METADATA_DEPTH",
    "limits",
    int(32, 1, 1000),
    "Deepest nesting of objects and arrays in metadata (the object itself is level 1); deeper is dead-lettered.",
  ),
} as const;
