// A TCP proxy in front of PostgreSQL that drops some connections: at once (a refused or
// reset connect), or after a random moment (in the middle of authentication or of a
// statement — the client cannot tell whether an ALTER ROLE ran). PostgreSQL itself
// cannot be told to fail, so this is how the database rotators meet network faults.
import { createServer, connect, type Server, type Socket } from "node:net";

export interface TcpProxy {
  readonly port: number;
  readonly stats: { connections: number; droppedAtConnect: number; droppedMidway: number };
  /** Chances (0..1) for each new connection; set both to 0 to stop dropping. */
  setDrops(atConnect: number, midway: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }, o: { random?: () => number } = {}): Promise<TcpProxy> {
  const random = o.random ?? Math.random;
  const stats = { connections: 0, droppedAtConnect: 0, droppedMidway: 0 };
  let atConnect = 0;
  let midway = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    stats.connections++;
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    if (random() < atConnect) {
      stats.droppedAtConnect++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on("close", () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    if (random() < midway) {
      // Somewhere in the SCRAM exchange or the first statements (a login takes a few ms).
      setTimeout(() => {
        stats.droppedMidway++;
        client.resetAndDestroy();
        upstream.destroy();
      }, Math.floor(random() * 30)).unref();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    port,
    stats,
    setDrops(a, m) {
      atConnect = a;
      midway = m;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
