#!/usr/bin/env node
'use strict';
// The Hello client in Node.js (grpc-js): calls HelloService on a running server and
// prints the replies exactly as `python -m toygrpc.client` does, so that either side
// of a call can be a gRPC stack not written in Python.

const {
  UsageError, fail, grpc, loadHelloService, parseFlags, parseHostPort,
} = require('./common');

const PROG = 'node client';
const METHODS = ['unary', 'server-stream', 'client-stream', 'bidi'];
const CLIENT_STREAM_REQUESTS = 3;
const DEFAULTS = {
  target: 'localhost:8080', method: 'unary', rpcs: '1', x: 'hey', timeout: '5',
};
const USAGE = `usage: node client.js [--target HOST:PORT] [--method METHOD] [--rpcs N] [--x TEXT]
                      [--timeout SECONDS]

Call HelloService on a running server and print the replies.

  --target HOST:PORT  server address (default ${DEFAULTS.target})
  --method METHOD     ${METHODS.join(', ')} or all (default unary)
  --rpcs N            how many RPCs of each shape, one after another (default 1)
  --x TEXT            the request's x field (default: hey)
  --timeout SECONDS   deadline of each RPC (default 5)
`;

function parseArgs(argv) {
  const flags = parseFlags(argv, DEFAULTS, USAGE);
  parseHostPort(flags.target, '--target');
  if (![...METHODS, 'all'].includes(flags.method)) {
    throw new UsageError(`unknown --method '${flags.method}': choose one of ${METHODS.join(', ')}, or all`);
  }
  if (!/^[0-9]+$/.test(flags.rpcs) || Number(flags.rpcs) < 1) {
    throw new UsageError(`--rpcs must be a whole number of at least 1, got '${flags.rpcs}'`);
  }
  const timeout = Number(flags.timeout);
  if (flags.timeout.trim() === '' || !(timeout > 0) || !Number.isFinite(timeout)) {
    throw new UsageError(`--timeout must be a number of seconds more than 0, got '${flags.timeout}'`);
  }
  return {
    target: flags.target, method: flags.method, rpcs: Number(flags.rpcs), x: flags.x, timeout,
  };
}

function requests(x) {
  return Array.from({ length: CLIENT_STREAM_REQUESTS }, (_, i) => ({ x: `${x}${i + 1}` }));
}

/** One RPC of the given shape; resolves to the reply texts in order. */
function callOnce(client, method, x, timeout) {
  const options = { deadline: new Date(Date.now() + timeout * 1000) };
  return new Promise((resolve, reject) => {
    if (method === 'unary') {
      client.Hello({ x }, options, (err, reply) => (err ? reject(err) : resolve([reply.x])));
    } else if (method === 'client-stream') {
      const call = client.HelloClientStream(options, (err, reply) => (err ? reject(err) : resolve([reply.x])));
      for (const request of requests(x)) call.write(request);
      call.end();
    } else {
      const call = method === 'server-stream'
        ? client.HelloServerStream({ x }, options)
        : client.HelloBidiStream(options);
      const texts = [];
      call.on('data', (reply) => texts.push(reply.x));
      call.on('error', reject);
      // 'status' comes after the last message; an error status also emits 'error'.
      call.on('status', (status) => {
        if (status.code === grpc.status.OK) resolve(texts);
      });
      if (method === 'bidi') {
        for (const request of requests(x)) call.write(request);
        call.end();
      }
    }
  });
}

/** Turn a failed RPC into one line that says what happened and what to try. */
function explainRpcError(error, target, timeout) {
  if (error.code === grpc.status.UNAVAILABLE) {
    // grpc-js appends an empty "Resolution note: " to connection failures.
    const details = String(error.details).replace(/\.?\s*Resolution note:\s*$/, '');
    return `cannot reach a server at ${target}: ${details}; `
      + 'start one with `toygrpc serve` or pass --target';
  }
  if (error.code === grpc.status.DEADLINE_EXCEEDED) {
    return `deadline exceeded after ${timeout}s calling ${target}; raise --timeout or check the server`;
  }
  const name = Object.keys(grpc.status).find((key) => grpc.status[key] === error.code) || error.code;
  return `RPC to ${target} failed with ${name}: ${error.details}`;
}

async function main(argv) {
  let options;
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) fail(PROG, error.message);
    throw error;
  }
  const HelloService = loadHelloService();
  const client = new HelloService(options.target, grpc.credentials.createInsecure());
  const methods = options.method === 'all' ? METHODS : [options.method];
  const results = [];
  const started = process.hrtime.bigint();
  try {
    for (const method of methods) {
      for (let i = 0; i < options.rpcs; i += 1) {
        results.push(await callOnce(client, method, options.x, options.timeout));
      }
    }
  } catch (error) {
    client.close();
    if (error && typeof error.code === 'number') {
      fail(PROG, explainRpcError(error, options.target, options.timeout));
    }
    fail(PROG, `unexpected error: ${error && error.message ? error.message : error}`);
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  client.close();
  const lines = results.length <= 8
    ? results.flat()
    : [results[0][0], `${results.length} RPCs ok in ${elapsed.toFixed(3)}s`];
  process.stdout.write(lines.map((line) => `${line}\n`).join(''));
  process.exitCode = 0;
}

main(process.argv.slice(2)).catch((error) => fail(PROG, `unexpected error: ${error && error.message ? error.message : error}`));
