/**
 * A client the tests run as another user (child_process `uid`/`gid`): `node client_as.js
 * SOCKET REQUESTS`, where REQUESTS is a JSON array of `[message, finals]`. It sends them one
 * after the other on one connection and prints, as JSON, the replies to each (an empty list
 * when the connection was closed first) and whether the connection is still open at the end.
 */

import type { Message } from '../../src/daemon/messages.js';
import { Client, type ClientOutput } from './harness.js';

async function main(): Promise<void> {
  const [socket, requests] = process.argv.slice(2);
  if (socket === undefined || requests === undefined)
    throw new Error('usage: client_as SOCKET REQUESTS');
  const client = await Client.connect(socket);
  const replies: Message[][] = [];
  for (const [message, finals] of JSON.parse(requests) as [Message, number][]) {
    replies.push(await client.request(message, finals));
  }
  const output: ClientOutput = { replies, open: !client.ended };
  process.stdout.write(JSON.stringify(output));
  client.close();
}

main().catch((error: unknown) => {
  process.stderr.write(`client_as: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
