// llama.cpp (the prebuilt binaries of node-llama-cpp) on a GGUF file, for
// comparing with kd. Runs on the CPU with a fixed number of threads.
//
//   node check.mjs tokenize MODEL TEXTS.json      ids of each text (no special tokens)
//   node check.mjs greedy MODEL PROMPTS.json N    N greedy tokens after each prompt
//                                                 (ids), with the text and the smallest
//                                                 top-2 logit margin along the way
//   node check.mjs argmax MODEL SEQUENCES         the argmax after every token of each
//                                                 line of ids (teacher forcing)
//   node check.mjs bench MODEL PROMPT.json N T    prefill and generation tokens/s with
//                                                 T threads: the prompt's ids, then N tokens
//
// Prints JSON (argmax: one line of ids per sequence, as kd's teacher_forcing).
// With KD_LORA=FILE.gguf in the environment, every context applies that LoRA
// adapter (scale 1) to the model.
import fs from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [command, modelPath, input, count, threadCount] = process.argv.slice(2);
const threads = Number(threadCount ?? 2);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath});
const readJson = (path) => JSON.parse(fs.readFileSync(path, "utf8"));

async function context(size) {
    const lora = process.env.KD_LORA ? {lora: process.env.KD_LORA} : {};
    const created = await model.createContext({contextSize: size, batchSize: size, threads,
                                               sequences: 1, ...lora});
    return {created, sequence: created.getSequence()};
}

function topTwo(logits) {
    let first = [-1, -Infinity], second = [-1, -Infinity];
    for (const [token, logit] of logits) {
        if (logit > first[1]) {
            second = first;
            first = [token, logit];
        } else if (logit > second[1]) {
            second = [token, logit];
        }
    }
    return {token: first[0], margin: first[1] - second[1]};
}

// One step: evaluate `tokens`, asking for what follows the last one.
async function next(sequence, tokens, what) {
    const input = tokens.map((token, i) => i + 1 < tokens.length ? token
                                                                 : [token, {generateNext: what}]);
    const output = await sequence.controlledEvaluate(input);
    return output[tokens.length - 1].next;
}

async function greedy(prompts, steps) {
    const {created, sequence} = await context(model.trainContextSize);
    const results = [];
    for (const prompt of prompts) {
        await sequence.clearHistory();
        const tokens = [];
        let margin = Infinity, feed = prompt;
        for (let i = 0; i < steps; i++) {
            const {logits} = await next(sequence, feed, {logits: true});
            const best = topTwo(logits);
            margin = Math.min(margin, best.margin);
            tokens.push(best.token);
            feed = [best.token];
        }
        results.push({tokens, text: model.detokenize(tokens), margin});
    }
    await created.dispose();
    return results;
}

async function argmax(path) {
    const lines = fs.readFileSync(path, "utf8").split("\n").filter((line) => line.trim());
    const {created, sequence} = await context(model.trainContextSize);
    const out = [];
    for (const line of lines) {
        const tokens = line.trim().split(/\s+/).map(Number);
        await sequence.clearHistory();
        const input = tokens.map((token) => [token, {generateNext: {token: true}}]);
        const output = await sequence.controlledEvaluate(input);
        out.push(output.map((item) => item.next.token).join(" "));
    }
    await created.dispose();
    return out.join("\n");
}

async function bench(prompt, steps) {
    const {created, sequence} = await context(prompt.length + steps);
    const start = performance.now();
    let token = (await next(sequence, prompt, {token: true})).token;
    const prefilled = performance.now();
    for (let i = 1; i < steps; i++)
        token = (await next(sequence, [token], {token: true})).token;
    const end = performance.now();
    await created.dispose();
    return {prefill_tokens_per_s: prompt.length / ((prefilled - start) / 1e3),
            generation_tokens_per_s: (steps - 1) / ((end - prefilled) / 1e3), threads};
}

let result;
if (command === "tokenize")
    result = JSON.stringify(readJson(input).map((text) => Array.from(model.tokenize(text, false))));
else if (command === "greedy")
    result = JSON.stringify(await greedy(readJson(input), Number(count)));
else if (command === "argmax")
    result = await argmax(input);
else if (command === "bench")
    result = JSON.stringify(await bench(readJson(input), Number(count)));
else
    throw new Error(`unknown command ${command}`);
console.log(result);
await model.dispose();
