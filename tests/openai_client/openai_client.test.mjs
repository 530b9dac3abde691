// Drives trilemma-server's OpenAI-compatible endpoint (docs/http.md) with the
// official `openai` npm client: streamed and non-streamed completions on
// token-ID prompts, every error status, and an abort mid-stream whose state
// is freed (read back from /metrics).
//
//   TRILEMMA_SERVER=build/bin/trilemma-server node --test openai_client.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import OpenAI from 'openai';

const SERVER = process.env.TRILEMMA_SERVER ?? 'build/bin/trilemma-server';
// A checkpoint directory with a tokenizer.json (tests/checkpoints/
// make_checkpoints.py's llama_text), hosted as engine "text".
const TEXT_CHECKPOINT = process.env.TRILEMMA_TEXT_CHECKPOINT;

// Starts a server on free ports; resolves once its ready line names them.
function startServer(extraArgs) {
  const child = spawn(SERVER, [
    '--listen=127.0.0.1:0', '--metrics_listen=127.0.0.1:0',
    '--http_listen=127.0.0.1:0', ...extraArgs,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
    child.stdout.on('data', (data) => {
      out += data;
      const http = /http=(\S+)/.exec(out);
      const metrics = /metrics=(\S+)/.exec(out);
      if (http && metrics) {
        child.removeAllListeners('exit');
        resolve({
          child,
          base: `http://${http[1]}/v1`,
          metrics: `http://${metrics[1]}/metrics`,
        });
      }
    });
  });
}

function clientFor(server) {
  return new OpenAI({ baseURL: server.base, apiKey: 'unused', maxRetries: 0 });
}

// The value of one exported sample, e.g. sample(text, 'trilemma_active_sessions{engine="attention"}').
function sample(text, series) {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function waitFor(predicate, what) {
  for (let i = 0; i < 100; ++i) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

let main;  // attention + mamba, default limits
before(async () => {
  assert.ok(TEXT_CHECKPOINT, 'TRILEMMA_TEXT_CHECKPOINT must name the llama_text checkpoint');
  main = await startServer(['--engines=attention,mamba,text', `--checkpoint=text=${TEXT_CHECKPOINT}`]);
});
after(() => { main.child.kill('SIGKILL'); });

test('models lists the hosted engines', async () => {
  const models = await clientFor(main).models.list();
  assert.deepEqual(models.data.map((m) => m.id).sort(), ['attention', 'mamba', 'text']);
  const tokenizer = Object.fromEntries(models.data.map((m) => [m.id, m.trilemma.tokenizer]));
  assert.deepEqual(tokenizer, { attention: false, mamba: false, text: true });
});

test('non-streamed completion on a token-ID prompt', async () => {
  const response = await clientFor(main).completions.create({
    model: 'attention', prompt: [3, 4100, 5, 4200, 3], max_tokens: 4,
    temperature: 0,
  });
  assert.equal(response.object, 'text_completion');
  assert.equal(response.choices.length, 1);
  const ids = response.choices[0].text.split(' ');
  assert.equal(ids.length, 4);
  for (const id of ids) assert.match(id, /^\d+$/);
  // The attention circuit recalls the value stored after key 3.
  assert.equal(ids[0], '4100');
  assert.equal(response.choices[0].finish_reason, 'length');
  assert.equal(response.usage.prompt_tokens, 5);
  assert.equal(response.usage.completion_tokens, 4);
  assert.equal(response.usage.total_tokens, 9);
  assert.ok(response.trilemma.flops > 0);
  assert.ok(response.trilemma.peak_state_bytes > 0);
});

test('streamed completion matches the non-streamed one', async () => {
  const client = clientFor(main);
  const request = { model: 'mamba', prompt: [3, 4100, 5, 4200, 3], max_tokens: 6, temperature: 0 };
  const whole = await client.completions.create(request);
  const stream = await client.completions.create({
    ...request, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.text;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.ok(chunks >= 3, `${chunks} chunks`);
  assert.equal(text, whole.choices[0].text);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 6);
  assert.equal(usage.prompt_tokens, 5);
});

test('a list of prompts gets one choice each', async () => {
  const response = await clientFor(main).completions.create({
    model: 'attention', prompt: [[3, 4100, 3], [7, 4300, 7]], max_tokens: 1, temperature: 0,
  });
  assert.deepEqual(response.choices.map((c) => [c.index, c.text]), [[0, '4100'], [1, '4300']]);
});

test('a stop string ends the choice before it', async () => {
  const client = clientFor(main);
  const request = { model: 'attention', prompt: [3, 4100, 5, 4200, 3], max_tokens: 8, temperature: 0 };
  const whole = await client.completions.create(request);
  const ids = whole.choices[0].text.split(' ');
  const stopped = await client.completions.create({ ...request, stop: [` ${ids[2]}`] });
  assert.equal(stopped.choices[0].finish_reason, 'stop');
  assert.ok(whole.choices[0].text.startsWith(stopped.choices[0].text));
  assert.ok(!stopped.choices[0].text.includes(` ${ids[2]}`));
});

test('text prompts on a checkpoint engine with a tokenizer', async () => {
  const client = clientFor(main);
  const request = { model: 'text', prompt: 'the cat sat on the mat', max_tokens: 12, temperature: 0 };
  const whole = await client.completions.create(request);
  const text = whole.choices[0].text;
  assert.equal(typeof text, 'string');
  assert.ok(text.length > 0);
  assert.ok(whole.usage.prompt_tokens > 0 && whole.usage.prompt_tokens <= 22,
    `${whole.usage.prompt_tokens} prompt tokens (merges shorten the byte count)`);
  assert.equal(whole.usage.completion_tokens, 12);
  const stream = await client.completions.create({ ...request, stream: true });
  let streamed = '';
  for await (const chunk of stream) for (const c of chunk.choices) streamed += c.text;
  assert.equal(streamed, text);
  const list = await client.completions.create({ ...request, prompt: ['the cat sat on the mat', 'a dog'] });
  assert.equal(list.choices[0].text, text);
  assert.equal(list.choices.length, 2);
});

test('400 names the invalid field', async () => {
  const client = clientFor(main);
  const cases = [
    [{ model: 'attention', prompt: [1, 2], max_tokens: 0 }, 'max_tokens'],
    [{ model: 'attention', prompt: [1, 99999], max_tokens: 1 }, 'prompt[1]'],
    [{ model: 'attention', prompt: [1, 2], n: 2 }, 'n'],
    [{ model: 'attention', prompt: [1, 2], temperature: 7 }, 'temperature'],
    [{ model: 'attention', prompt: 'text needs a tokenizer' }, 'prompt'],
  ];
  for (const [body, param] of cases) {
    await assert.rejects(client.completions.create(body), (error) => {
      assert.equal(error.status, 400, JSON.stringify(body));
      assert.equal(error.param, param);
      assert.equal(error.type, 'invalid_request_error');
      return true;
    });
  }
});

test('404 for an unknown model', async () => {
  await assert.rejects(
    clientFor(main).completions.create({ model: 'no_such_engine', prompt: [1] }),
    (error) => {
      assert.equal(error.status, 404);
      assert.equal(error.code, 'model_not_found');
      assert.match(error.message, /no_such_engine/);
      return true;
    });
});

test('an abort mid-stream frees the session state', async () => {
  const engine = 'engine="attention"';
  const stream = await clientFor(main).completions.create({
    model: 'attention', prompt: [3, 4100, 5, 4200, 3], max_tokens: 60000,
    temperature: 0, stream: true,
  });
  let chunks = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.choices.length, 1);
    if (++chunks === 3) break;  // ends the iteration: the client aborts
  }
  await waitFor(async () => {
    const text = await (await fetch(main.metrics)).text();
    return sample(text, `trilemma_active_sessions{${engine}}`) === 0 &&
        sample(text, `trilemma_state_bytes{${engine},tier="model"}`) === 0 &&
        sample(text, `trilemma_requests_total{${engine},outcome="cancelled",protocol="http"}`) >= 1;
  }, 'the aborted request to free its state');
});

test('429 when the engine cannot take more, 413 over the body limit, 503 while draining', async () => {
  const small = await startServer([
    '--engines=attention', '--max_running=1', '--max_waiting=0',
    '--http_max_body_bytes=4096', '--drain_deadline=3s',
  ]);
  try {
    const client = clientFor(small);
    const long = await client.completions.create({
      model: 'attention', prompt: [3, 4100, 3], max_tokens: 60000, temperature: 0, stream: true,
    });
    const iterator = long[Symbol.asyncIterator]();
    await iterator.next();  // the long stream holds the only running slot
    await assert.rejects(
      client.completions.create({ model: 'attention', prompt: [1, 2], max_tokens: 1 }),
      (error) => {
        assert.equal(error.status, 429);
        assert.match(error.message, /max_waiting/);
        return true;
      });
    await assert.rejects(
      client.completions.create({ model: 'attention', prompt: new Array(3000).fill(1), max_tokens: 1 }),
      (error) => {
        assert.equal(error.status, 413);
        return true;
      });
    small.child.kill('SIGTERM');
    await waitFor(async () => {
      try {
        await client.completions.create({ model: 'attention', prompt: [1, 2], max_tokens: 1 });
        return false;
      } catch (error) {
        return error.status === 503;
      }
    }, '503 while draining');
    // The drain cuts the long stream; the client sees it end.
    for (;;) {
      const next = await iterator.next().catch(() => ({ done: true }));
      if (next.done) break;
    }
  } finally {
    small.child.kill('SIGKILL');
  }
});
