#!/usr/bin/env node
'use strict';
// The Hello server in Node.js (grpc-js): the four methods of toygrpc/server.py with the
// same reply texts and the same ready line, so that Python clients can be checked
// against a gRPC stack not written in Python. It has no health or reflection service.

const {
  UsageError, fail, grpc, loadHelloService, parseFlags, parseHostPort,
} = require('./common');

const PROG = 'node server';
// Same as toygrpc.server.READY_PREFIX: tests and launchers wait for this line.
const READY_PREFIX = 'toygrpc server listening on ';
const SERVER_STREAM_REPLIES = 3;
const STOP_GRACE_MS = 1000;
const DEFAULTS = { bind: 'localhost:8080' };
const USAGE = `usage: node server.js [--bind HOST:PORT]

Serve HelloService (all four method shapes) on loopback unless --bind names another address.

  --bind HOST:PORT  address to listen on (default ${DEFAULTS.bind}: 127.0.0.1 and ::1;
                    port 0 picks a free port and prints it)
`;

function greeting(x) {
  return `Hello, ${x}!`;
}

const handlers = {
  Hello(call, callback) {
    callback(null, { x: greeting(call.request.x) });
  },
  HelloServerStream(call) {
    for (let i = 0; i < SERVER_STREAM_REPLIES; i += 1) {
      call.write({ x: `${greeting(call.request.x)} #${i + 1}` });
    }
    call.end();
  },
  HelloClientStream(call, callback) {
    const names = [];
    call.on('data', (request) => names.push(request.x));
    call.on('end', () => callback(null, { x: greeting(names.join(', ')) }));
    call.on('error', () => {}); // cancelled by the client: nothing to answer
  },
  HelloBidiStream(call) {
    call.on('data', (request) => call.write({ x: greeting(request.x) }));
    call.on('end', () => call.end());
    call.on('error', () => {});
  },
};

function bindError(address, error) {
  const where = `${address.host}`;
  if (/EADDRINUSE/.test(error.message)) {
    return `port ${address.port} is already in use on ${where}; `
      + 'stop the other server or pick another port with --bind';
  }
  if (/EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN/.test(error.message)) {
    return `cannot bind ${where}:${address.port}: ${where} is not an address of this machine; fix --bind`;
  }
  return `cannot bind ${where}:${address.port}: ${error.message}; pick another address with --bind`;
}

/**
 * Bind `bind`; for `localhost`, bind 127.0.0.1 and then ::1 on the same port, as grpc's C
 * core does for the Python server (grpc-js would take only what the resolver returns,
 * often 127.0.0.1 alone). ::1 is best effort: a machine without IPv6 still serves on
 * 127.0.0.1, but a port given explicitly and in use on ::1 is an error.
 */
function bindAll(server, address, bind, done) {
  const credentials = grpc.ServerCredentials.createInsecure();
  if (address.host !== 'localhost') {
    server.bindAsync(bind, credentials, done);
    return;
  }
  server.bindAsync(`127.0.0.1:${address.port}`, credentials, (error, port) => {
    if (error) {
      done(error);
      return;
    }
    server.bindAsync(`[::1]:${port}`, credentials, (error6) => {
      if (error6 && address.port !== 0 && /EADDRINUSE/.test(error6.message)) {
        done(error6);
        return;
      }
      done(null, port);
    });
  });
}

function main(argv) {
  let bind;
  let address;
  try {
    ({ bind } = parseFlags(argv, DEFAULTS, USAGE));
    address = parseHostPort(bind, '--bind', true);
  } catch (error) {
    if (error instanceof UsageError) fail(PROG, error.message);
    throw error;
  }
  const HelloService = loadHelloService();
  const server = new grpc.Server();
  server.addService(HelloService.service, handlers);
  bindAll(server, address, bind, (error, port) => {
    if (error) fail(PROG, bindError(address, error));
    // Like the Python server: the host as given in --bind, the port actually bound.
    const host = bind.slice(0, bind.lastIndexOf(':'));
    process.stdout.write(`${READY_PREFIX}${host}:${port}\n`);
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Let calls in flight finish for a moment, as server.stop(grace=1.0) does in Python.
    const force = setTimeout(() => {
      server.forceShutdown();
      process.exit(0);
    }, STOP_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main(process.argv.slice(2));
