/** One captured frame, whatever the file format it came from. */
export interface CapturedFrame {
  /** DLT/LINKTYPE of the interface the frame was captured on (1 Ethernet, 113 SLL, 276 SLL2, ...). */
  linkType: number;
  /** Capture time in microseconds since the epoch (fractional when the file has nanoseconds). */
  timestampUs: number;
  /** The captured bytes (a view; at most the snap length). */
  data: Buffer;
  /** Length of the frame on the wire (more than data.length when the snap length cut it). */
  originalLength: number;
  /** pcapng interface id (0 for classic pcap). */
  interfaceId: number;
  /** File offset of the record that carried this frame. */
  offset: number;
}

/** Per-interface drop counters reported inside a capture file (pcapng Interface Statistics Block). */
export interface InterfaceStatistics {
  interfaceId: number;
  received: bigint | undefined;
  droppedByInterface: bigint | undefined;
  droppedByOs: bigint | undefined;
}

/** The largest record either reader accepts: far above any snap length (256 KiB) a capture tool uses. */
export const MAX_RECORD_LENGTH = 16 * 1024 * 1024;
