// End-to-end check of mcp-v8 with the official TypeScript MCP SDK
// (@modelcontextprotocol/sdk from npm), pinned to a release that speaks the
// 2025-06-18 revision: initialize handshake, Mcp-Session-Id, SSE.
//
// Usage:
//   node ts_client.mjs --url http://127.0.0.1:3000/mcp
//   node ts_client.mjs --stdio /path/to/mcp-v8 [server flags...]
//
// Lists tools, runs code with and without a session, checks a JavaScript
// error (the SDK also validates structured content against the tool's output
// schema), progress notifications and cancellation of an endless run; prints
// one line "ts client OK ..." and exits 0, or exits 1 on any failure.

import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

function transportFromArgs(argv) {
  if (argv[0] === "--url" && argv[1]) {
    return { transport: new StreamableHTTPClientTransport(new URL(argv[1])), label: "streamable HTTP" };
  }
  if (argv[0] === "--stdio" && argv[1]) {
    const transport = new StdioClientTransport({ command: argv[1], args: argv.slice(2), stderr: "inherit" });
    return { transport, label: "stdio" };
  }
  throw new Error("usage: ts_client.mjs --url URL | --stdio BINARY [flags...]");
}

async function runJs(client, args, options) {
  return client.callTool({ name: "run_js", arguments: args }, undefined, options);
}

async function main() {
  const { transport, label } = transportFromArgs(process.argv.slice(2));
  const client = new Client({ name: "mcp-v8-ts-check", version: "1.0.0" });
  await client.connect(transport);
  try {
    const version = client.getServerVersion();
    assert.equal(version.name, "mcp-v8");
    assert.match(client.getInstructions() ?? "", /no network/);

    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const name of ["run_js", "list_sessions", "get_session", "delete_session", "get_heap"]) {
      assert.ok(names.includes(name), `${name} missing from ${names}`);
    }

    const ok = await runJs(client, { code: "console.log('ts'); [1, 2, 3].map(x => x * 2)" });
    assert.ok(!ok.isError, JSON.stringify(ok));
    assert.deepEqual(ok.structuredContent.result, [2, 4, 6]);
    assert.equal(ok.structuredContent.stdout, "ts");
    assert.deepEqual(JSON.parse(ok.content[0].text), ok.structuredContent);

    const thrown = await runJs(client, { code: "function boom() { throw new Error('kaput') }\nboom()" });
    assert.equal(thrown.isError, true);
    assert.equal(thrown.structuredContent.error.message, "kaput");
    assert.match(thrown.structuredContent.error.stack, /boom/);

    // 2025-06-18: bad arguments are a JSON-RPC invalid-params error.
    await assert.rejects(runJs(client, { code: 7 }), (e) => e.code === -32602);

    const session = `ts-${Date.now()}`;
    await runJs(client, { code: "globalThis.seen = ['a']", session });
    const again = await runJs(client, { code: "seen.push('b'); seen", session });
    assert.deepEqual(again.structuredContent.result, ["a", "b"]);
    const info = await client.callTool({ name: "get_session", arguments: { name: session } });
    assert.equal(info.structuredContent.entries, 2);
    const deleted = await client.callTool({ name: "delete_session", arguments: { name: session } });
    assert.equal(deleted.structuredContent.deleted, session);

    const progress = [];
    const slow = await runJs(
      client,
      { code: "await new Promise(r => setTimeout(r, 1600)); 'slept'" },
      { onprogress: (p) => progress.push(p.progress) },
    );
    assert.equal(slow.structuredContent.result, "slept");
    assert.ok(progress.length >= 2, `progress: ${progress}`);

    // Cancel an endless run (notifications/cancelled); with one worker the
    // next call only completes if the cancellation killed it.
    const abort = new AbortController();
    const endless = runJs(client, { code: "while (true) {}" }, { signal: abort.signal });
    setTimeout(() => abort.abort("test cancels"), 500);
    await assert.rejects(endless);
    const started = Date.now();
    const after = await runJs(client, { code: "'after cancel'" }, { timeout: 15000 });
    assert.equal(after.structuredContent.result, "after cancel");
    console.log(
      `ts client OK: ${label}, protocol ${transport.protocolVersion ?? "2025-06-18"}, ` +
        `cancel freed the worker in ${((Date.now() - started) / 1000).toFixed(2)}s, ` +
        `${progress.length} progress notifications`,
    );
  } finally {
    await client.close();
  }
}

main().catch((error) => {
  console.error(`ts client FAILED: ${error?.stack ?? error}`);
  process.exit(1);
});
