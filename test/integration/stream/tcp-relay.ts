// A fault injector for network failures between a client and a broker: a TCP relay of the test's own
// on 127.0.0.1. Cutting it is, to the client, exactly a broker that vanished from the network.
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/**
 * The network-failure fault injector: a TCP relay to the broker. `cut` drops every connection and
 * refuses new ones (reset at once) until `restore`.
 */
export async function relay(
  host: string,
  port: number,
): Promise<{ port: number; cut: () => void; restore: () => void; close: () => void }> {
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(port, host);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
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
  const listening = (server.address() as { port: number }).port;
  const cut = () => {
    down = true;
    for (const s of sockets) s.destroy();
  };
  return {
    port: listening,
    cut,
    restore: () => {
      down = false;
    },
    close: () => {
      cut();
      server.close();
    },
  };
}
