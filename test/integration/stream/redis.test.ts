import { streamLogConformance } from "./conformance.ts";
import { REDIS, testPrefix } from "./redis-keys.ts";

// The local Redis (scripts/run.sh starts it), under a key prefix of this run; port 1 is never listening.
streamLogConformance({
  name: "redis",
  url: `${REDIS}?prefix=${testPrefix("conformance")}`,
  unreachable: { url: "redis://user:s3cret@127.0.0.1:1/x", code: "STREAM_UNREACHABLE" },
});
