/** Rows of the settings table: the DB_* alternative to DATABASE_URL (the iotDashboard writer's names). */
import { setting } from "../setting.ts";
import { int, secret, text } from "../fields.ts";
import { databaseName, hostName } from "../database_parts.ts";

const WHEN = "Used only when DATABASE_URL is unset; then DB_HOST, DB_NAME, DB_USER and DB_PASSWORD are all needed.";

/** The DB_* settings, assembled into DATABASE_URL's value by the loader. */
export const DATABASE_PARTS = {
  dbHost: setting("DB_HOST", "database", hostName(), `PostgreSQL host, for a connection from the DB_* set. ${WHEN}`),
  dbPort: setting("DB_PORT", "database", int(5432, 1, 65535), `PostgreSQL port of the DB_* set. ${WHEN}`),
  dbName: setting("DB_NAME", "database", databaseName(), `Database of the DB_* set. ${WHEN}`),
  dbUser: setting("DB_USER", "database", text(), `User of the DB_* set. ${WHEN}`),
  dbPassword: setting(
    "DB_PASSWORD",
    "database",
    secret(),
    `Password of the DB_* set; never printed, percent-encoded into the URL. ${WHEN}`,
    { visibility: "secret" },
  ),
} as const;
