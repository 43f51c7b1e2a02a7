import { streamLogConformance } from "./conformance.ts";

// The local RabbitMQ (scripts/run.sh starts it); port 1 is never listening.
streamLogConformance({
  name: "rabbitmq",
  url: "amqp://guest:guest@127.0.0.1:5672",
  unreachable: { url: "amqp://guest:s3cret@127.0.0.1:1/x", code: "STREAM_UNREACHABLE" },
});
