'use strict';
// Shared by client.js and server.js: the proto, HOST:PORT parsing, flag parsing and
// one-line errors (exit 2), so that both behave like toygrpc's Python client and server.

const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// grpc-js logs some failures (a bind that fails, say) as its own line on stderr, beside the
// one-line error these scripts print; keep it quiet unless the user asked for its logs.
if (!process.env.GRPC_NODE_VERBOSITY && !process.env.GRPC_VERBOSITY) {
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
}

const PROTO_PATH = path.join(__dirname, '..', '..', 'proto', 'hello.proto');
const EXIT_USAGE = 2;

/** Load HelloService from the same hello.proto the Python stubs are generated from. */
function loadHelloService() {
  const definition = protoLoader.loadSync(PROTO_PATH, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  // No proto package: the service's full name is plain `HelloService`.
  return grpc.loadPackageDefinition(definition).HelloService;
}

/** An error the user can fix: printed as one line on stderr, exit status 2. */
class UsageError extends Error {}

/** Print `prog: message` as one line on stderr and exit 2. */
function fail(prog, message) {
  process.stderr.write(`${prog}: ${String(message).replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(EXIT_USAGE);
}

/** Check HOST:PORT or [v6]:PORT, as toygrpc.addresses.parse_host_port does. */
function parseHostPort(text, what, allowPortZero = false) {
  const example = `expected HOST:PORT such as localhost:8080 or [::1]:8080, got '${text}'`;
  let host;
  let portText;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') throw new UsageError(`malformed ${what}: ${example}`);
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new UsageError(`malformed ${what}: ${example}`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) throw new UsageError(`malformed ${what}: ${example}`);
  }
  if (!host || !/^[0-9]+$/.test(portText)) throw new UsageError(`malformed ${what}: ${example}`);
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !allowPortZero)) {
    throw new UsageError(`malformed ${what}: port must be 1-65535, got ${portText}`);
  }
  return { host, port };
}

/**
 * Parse `--name VALUE` and `--name=VALUE` flags into an object of strings, starting
 * from `defaults`; an unknown flag, a stray argument or a missing value is a UsageError.
 */
function parseFlags(argv, defaults, usage) {
  const values = { ...defaults };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(usage);
      process.exit(0);
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!match || !Object.hasOwn(defaults, match[1])) {
      throw new UsageError(`unrecognized argument '${arg}' (see --help)`);
    }
    let value = match[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${match[1]} needs a value (see --help)`);
      i += 1;
      value = argv[i];
    }
    values[match[1]] = value;
  }
  return values;
}

module.exports = {
  EXIT_USAGE,
  UsageError,
  fail,
  grpc,
  loadHelloService,
  parseFlags,
  parseHostPort,
};
