import { SluiceError } from "../../core/errors.ts";
import { Capability, encodeLenencInt } from "./ok-err.ts";

/**
 * The connection phase of the MySQL protocol, as pure codecs: the server's initial handshake, the
 * client's SSL request and handshake response, and the auth-switch / auth-more-data packets.
 *
 * Why Sluice does the handshake itself rather than borrowing mysql2's: a replication connection spends
 * its life in COM_BINLOG_DUMP, a mode the driver knows nothing about, so after the handshake we would
 * have to pull its socket out from under its own packet parser and sequence counter, which only its
 * private internals allow. The connection phase is five small packets; owning them keeps one parser and
 * one sequence counter on the socket from the first byte to the last, and lets us add MariaDB's
 * client_ed25519 (which mysql2 lacks) with node:crypto alone.
 */

/** MariaDB reuses capability bit 0 ("CLIENT_MYSQL"): a MariaDB server clears it and sends 4 more bytes. */
const CLIENT_MYSQL = 0x1;

/**
 * Initial Handshake Packet, protocol version 10:
 *   int<1> 10 | string<NUL> server_version | int<4> connection_id | string[8] auth_plugin_data_1
 *   int<1> 0 | int<2> capabilities (low) | int<1> charset | int<2> status | int<2> capabilities (high)
 *   int<1> auth_plugin_data_len | string[6] reserved | int<4> MariaDB extended capabilities (or reserved)
 *   string[max(13, auth_plugin_data_len - 8)] auth_plugin_data_2 (NUL-terminated)
 *   string<NUL> auth_plugin_name (if PLUGIN_AUTH)
 */
export interface InitialHandshake {
  protocolVersion: number;
  /** As the server reports it; MariaDB's "5.5.5-" compatibility prefix removed. */
  serverVersion: string;
  isMariadb: boolean;
  connectionId: number;
  /** The nonce ("scramble") for the auth plugin, without its trailing NUL. */
  authPluginData: Buffer;
  capabilities: number;
  characterSet: number;
  statusFlags: number;
  authPluginName: string;
  mariadbCapabilities: number;
}

export function parseInitialHandshake(payload: Buffer): InitialHandshake {
  const bad = (why: string) =>
    new SluiceError("MYSQL_BAD_HANDSHAKE", `server handshake not understood: ${why}`, {
      context: { length: payload.length, head: payload.subarray(0, 16).toString("hex") },
      hint: "is this port a MySQL/MariaDB server? (protocol version 10 expected)",
    });
  if (payload.length < 1) throw bad("empty packet");
  const protocolVersion = payload[0]!;
  if (protocolVersion !== 10) throw bad(`protocol version ${protocolVersion}`);
  let pos = 1;
  const nul = payload.indexOf(0, pos);
  if (nul < 0) throw bad("no server version");
  let serverVersion = payload.toString("latin1", pos, nul);
  pos = nul + 1;
  if (payload.length < pos + 4 + 8 + 1 + 2) throw bad("truncated");
  const connectionId = payload.readUInt32LE(pos);
  pos += 4;
  const part1 = payload.subarray(pos, pos + 8);
  pos += 9; // + filler
  let capabilities = payload.readUInt16LE(pos);
  pos += 2;
  let characterSet = 0;
  let statusFlags = 0;
  let mariadbCapabilities = 0;
  let part2: Buffer = Buffer.alloc(0);
  let authPluginName = "mysql_native_password";
  if (payload.length >= pos + 16) {
    characterSet = payload[pos]!;
    statusFlags = payload.readUInt16LE(pos + 1);
    capabilities |= payload.readUInt16LE(pos + 3) << 16;
    capabilities >>>= 0;
    const dataLength = payload[pos + 5]!;
    if (!(capabilities & CLIENT_MYSQL)) mariadbCapabilities = payload.readUInt32LE(pos + 12);
    pos += 16;
    if (capabilities & Capability.SECURE_CONNECTION) {
      const n = Math.max(13, dataLength - 8);
      part2 = payload.subarray(pos, Math.min(pos + n, payload.length));
      pos += n;
      // The nonce is NUL-terminated inside its field.
      if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
    }
    if (capabilities & Capability.PLUGIN_AUTH && pos < payload.length) {
      const end = payload.indexOf(0, pos);
      authPluginName = payload.toString("latin1", pos, end < 0 ? payload.length : end);
    }
  }
  const isMariadb = /mariadb/i.test(serverVersion);
  if (serverVersion.startsWith("5.5.5-")) serverVersion = serverVersion.slice(6);
  return {
    protocolVersion,
    serverVersion,
    isMariadb,
    connectionId,
    authPluginData: Buffer.concat([part1, part2]),
    capabilities,
    characterSet,
    statusFlags,
    authPluginName,
    mariadbCapabilities,
  };
}

/** utf8mb4_general_ci: the collation id a client announces (< 256, so it fits the 1-byte field). */
export const UTF8MB4_GENERAL_CI = 45;
const MAX_PACKET_SIZE = 0x40000000;

/** The first 32 bytes of a handshake response: sent alone (with SSL set) to ask for TLS. */
export function encodeSslRequest(capabilities: number, characterSet = UTF8MB4_GENERAL_CI): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE((capabilities | Capability.SSL) >>> 0, 0);
  b.writeUInt32LE(MAX_PACKET_SIZE, 4);
  b[8] = characterSet;
  return b;
}

export interface HandshakeResponse {
  capabilities: number;
  user: string;
  authResponse: Buffer;
  database?: string | undefined;
  authPluginName: string;
  characterSet?: number;
  connectAttributes?: Record<string, string>;
}

/**
 * Handshake Response 41:
 *   int<4> capabilities | int<4> max_packet_size | int<1> charset | string[23] reserved
 *   string<NUL> username | auth_response (lenenc if PLUGIN_AUTH_LENENC_CLIENT_DATA, else int<1> length)
 *   string<NUL> database (if CONNECT_WITH_DB) | string<NUL> auth plugin (if PLUGIN_AUTH)
 *   int<lenenc> attrs length + (lenenc key, lenenc value)* (if CONNECT_ATTRS)
 */
export function encodeHandshakeResponse(r: HandshakeResponse): Buffer {
  let caps = r.capabilities;
  if (r.database) caps |= Capability.CONNECT_WITH_DB;
  else caps &= ~Capability.CONNECT_WITH_DB;
  const head = encodeSslRequest(caps, r.characterSet);
  head.writeUInt32LE(caps >>> 0, 0);
  const parts: Buffer[] = [head, Buffer.from(`${r.user}\0`, "utf8")];
  if (caps & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA) {
    parts.push(encodeLenencInt(r.authResponse.length), r.authResponse);
  } else {
    parts.push(Buffer.from([r.authResponse.length]), r.authResponse);
  }
  if (r.database) parts.push(Buffer.from(`${r.database}\0`, "utf8"));
  if (caps & Capability.PLUGIN_AUTH) parts.push(Buffer.from(`${r.authPluginName}\0`, "latin1"));
  if (caps & Capability.CONNECT_ATTRS) {
    const kv: Buffer[] = [];
    for (const [k, v] of Object.entries(r.connectAttributes ?? {})) {
      const kb = Buffer.from(k, "utf8");
      const vb = Buffer.from(v, "utf8");
      kv.push(encodeLenencInt(kb.length), kb, encodeLenencInt(vb.length), vb);
    }
    const attrs = Buffer.concat(kv);
    parts.push(encodeLenencInt(attrs.length), attrs);
  }
  return Buffer.concat(parts);
}

export const AUTH_SWITCH_HEADER = 0xfe;
export const AUTH_MORE_DATA_HEADER = 0x01;

/** AuthSwitchRequest: int<1> 0xFE | string<NUL> plugin name | string<EOF> plugin data (NUL-terminated nonce). */
export function parseAuthSwitchRequest(payload: Buffer): { pluginName: string; pluginData: Buffer } {
  const end = payload.indexOf(0, 1);
  const pluginName = payload.toString("latin1", 1, end < 0 ? payload.length : end);
  let pluginData = end < 0 ? Buffer.alloc(0) : payload.subarray(end + 1);
  if (pluginData.length > 0 && pluginData[pluginData.length - 1] === 0)
    pluginData = pluginData.subarray(0, pluginData.length - 1);
  return { pluginName, pluginData };
}
