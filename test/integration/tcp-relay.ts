// A fault injector for network failures no real server can be asked to produce: a TCP relay of the
// test's own on 127.0.0.1 between a client and a real server or broker.
import { createServer, type Socket, connect as tcpConnect } from "node:net";

export interface TcpRelay {
  /** The relay's own port: clients connect here instead of the server's. */
  port: number;
  /** `u` with its port replaced by the relay's. */
  url: (u: string) => string;
  /** Drops every connection through the relay at once; new connections still pass. */
  cut: () => void;
  /** Drops every connection and refuses new ones (reset at once) until `restore`: a server gone from the network. */
  down: () => void;
  /**
   * Refuses new connections (reset at once) until `restore`, leaving the open ones as they are: after
   * `mute`, a server gone from the network without a word (no FIN, no reset on what was open).
   */
  refuse: () => void;
  restore: () => void;
  /**
   * From now on, discards what the server sends on the open connections (what the client sends still
   * arrives): the server does the work, the client never hears of it (replies lost in the network).
   */
  mute: () => void;
  /** Sends new connections to another port (a server restarted elsewhere). */
  retarget: (port: number) => void;
  close: () => void;
}

/**
 * A TCP relay to `host:port` (default 127.0.0.1). With `corruptAt`, the byte at that offset of what the
 * server sends on each connection is flipped (damage on the wire that TCP's own checksum happened to miss).
 */
export async function relay(
  port: number,
  opts: { host?: string; corruptAt?: number } = {},
): Promise<TcpRelay> {
  const host = opts.host ?? "127.0.0.1";
  const sockets = new Set<Socket>();
  const muted = new WeakSet<Socket>();
  let target = port;
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(target, host);
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    let seen = 0;
    upstream.on("data", (data: Buffer) => {
      if (muted.has(upstream)) return;
      let chunk = data;
      const at = opts.corruptAt;
      if (at !== undefined && at >= seen && at < seen + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[at - seen] = chunk[at - seen]! ^ 0x10;
      }
      seen += chunk.length;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once("drain", () => upstream.resume());
      }
    });
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const relayPort = (server.address() as { port: number }).port;
  const cut = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port: relayPort,
    url: (u: string) => u.replace(/:(\d+)(?=\/|$|\?)/, `:${relayPort}`),
    cut,
    down: () => {
      refusing = true;
      cut();
    },
    refuse: () => {
      refusing = true;
    },
    restore: () => {
      refusing = false;
    },
    mute: () => {
      for (const s of sockets) muted.add(s);
    },
    retarget: (p: number) => {
      target = p;
    },
    close: () => {
      refusing = true;
      cut();
      server.close();
    },
  };
}
