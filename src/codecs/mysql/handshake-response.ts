import { SluiceError } from "../../core/errors.ts";
import { ByteReader } from "../binlog/reader.ts";
import { Capability } from "./ok-err.ts";

/**
 * The client's answer to the server greeting, as a passive observer decodes it.
 *
 *   HandshakeResponse41: u32 client_flags | u32 max_packet_size | u8 charset | 19 bytes filler
 *     | u32 MariaDB extended capabilities (filler for MySQL) | string<NUL> username
 *     | auth response: lenenc (PLUGIN_AUTH_LENENC_CLIENT_DATA) or u8 length (SECURE_CONNECTION) or NUL-terminated
 *     | string<NUL> database (CONNECT_WITH_DB) | string<NUL> auth plugin (PLUGIN_AUTH)
 *     | lenenc connect attributes (CONNECT_ATTRS) | u8 zstd level (MySQL, with zstd compression)
 *   SSLRequest: the first 32 bytes of the above alone, with SSL set: TLS follows.
 *   HandshakeResponse320 (pre-4.1): u16 client_flags | u24 max_packet_size | string<NUL> username | ...
 */
export interface ClientHandshake {
  capabilities: number;
  mariadbCapabilities: number;
  characterSet: number;
  /** True for an SSLRequest: the rest of the conversation is TLS. */
  sslRequest: boolean;
  user: string;
  database: string | undefined;
  authPlugin: string | undefined;
  attributes: Record<string, string>;
}

export function decodeClientHandshake(payload: Buffer): ClientHandshake {
  try {
    const r = new ByteReader(payload);
    if (payload.length >= 2 && !(payload.readUInt16LE(0) & Capability.PROTOCOL_41)) {
      const capabilities = r.u16("client flags");
      r.u24("max packet size");
      const user = r.remaining > 0 ? r.nullTerminatedString("user") : "";
      return {
        capabilities,
        mariadbCapabilities: 0,
        characterSet: 0,
        sslRequest: (capabilities & Capability.SSL) !== 0 && payload.length <= 5,
        user,
        database: undefined,
        authPlugin: undefined,
        attributes: {},
      };
    }
    const capabilities = r.u32("client flags") >>> 0;
    r.u32("max packet size");
    const characterSet = r.u8("character set");
    r.skip(19, "filler");
    const mariadbCapabilities = r.u32("extended capabilities");
    const base = { capabilities, mariadbCapabilities, characterSet };
    if (r.remaining === 0 && capabilities & Capability.SSL)
      return {
        ...base,
        sslRequest: true,
        user: "",
        database: undefined,
        authPlugin: undefined,
        attributes: {},
      };
    const user = r.nullTerminatedString("user");
    if (capabilities & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA) r.lenencBytes("auth response");
    else if (capabilities & Capability.SECURE_CONNECTION)
      r.skip(r.u8("auth response length"), "auth response");
    else r.nullTerminatedString("auth response", "latin1");
    let database: string | undefined;
    if (capabilities & Capability.CONNECT_WITH_DB && r.remaining > 0)
      database = r.nullTerminatedString("database");
    let authPlugin: string | undefined;
    if (capabilities & Capability.PLUGIN_AUTH && r.remaining > 0)
      authPlugin = r.nullTerminatedString("auth plugin");
    const attributes: Record<string, string> = {};
    if (capabilities & Capability.CONNECT_ATTRS && r.remaining > 0) {
      const block = new ByteReader(r.lenencBytes("connect attributes"));
      while (block.remaining > 0) {
        const key = block.lenencBytes("attribute key").toString("utf8");
        attributes[key] = block.lenencBytes("attribute value").toString("utf8");
      }
    }
    return { ...base, sslRequest: false, user, database: database || undefined, authPlugin, attributes };
  } catch (e) {
    throw new SluiceError(
      "MYSQL_BAD_HANDSHAKE",
      `client handshake response not understood (${payload.length} bytes)`,
      {
        context: { length: payload.length, head: payload.subarray(0, 16).toString("hex") },
        hint: "the capture lost part of the handshake, or the client does not speak protocol 4.1",
        cause: e,
      },
    );
  }
}
