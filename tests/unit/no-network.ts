/**
 * Set up before every unit test file (jest.config.js, project `unit`): a unit test is pure, so
 * starting a server or opening a connection fails the test that tries it, with the rule in the
 * message, instead of a `*.unit.test.ts` quietly growing into a slow one that needs the network.
 * Node's core modules are shared by every test file a jest worker runs, so the originals are put
 * back after the file: the servers tier runs in the same workers.
 */
import net from 'node:net';

/** The method as Node defines it, to put back after the file: kept as its descriptor, never called on its own. */
function original(prototype: object, name: string): PropertyDescriptor {
  const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
  if (!descriptor) throw new Error(`no-network.ts: Node no longer defines ${name} on the prototype it replaces`);
  return descriptor;
}
const listen = original(net.Server.prototype, 'listen');
const connect = original(net.Socket.prototype, 'connect');

function refuse(what: string): never {
  throw new Error(`a *.unit.test.ts ${what}: unit tests start no server and open no connection (see jest.config.js); move this test to a servers-tier *.test.ts`);
}

net.Server.prototype.listen = function () {
  return refuse('started a server');
};
net.Socket.prototype.connect = function () {
  return refuse('opened a connection');
};

afterAll(() => {
  Object.defineProperty(net.Server.prototype, 'listen', listen);
  Object.defineProperty(net.Socket.prototype, 'connect', connect);
});
