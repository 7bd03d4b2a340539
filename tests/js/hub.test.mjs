// @huggingface/hub (the official JavaScript client) against a live ModelYard hub.
//
// Run by tests/e2e/test_js_client.py, which starts the hub and passes it in the environment:
//   MODELYARD_URL         the hub's base URL
//   MODELYARD_TOKEN       alice's write token
//   MODELYARD_TOKEN_READ  alice's read-only token
//   MODELYARD_TOKEN_BOB   bob's write token (bob is not a member of anything alice owns)
// Standalone: `cd tests/js && npm ci && MODELYARD_URL=... MODELYARD_TOKEN=... ... npm test`.
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { describe, test } from "node:test";

import {
	HubApiError,
	createRepo,
	deleteRepo,
	downloadFile,
	fileExists,
	listFiles,
	modelInfo,
	parseSafetensorsMetadata,
	uploadFiles,
	whoAmI,
} from "@huggingface/hub";

const hubUrl = process.env.MODELYARD_URL;
const alice = process.env.MODELYARD_TOKEN;
const aliceRead = process.env.MODELYARD_TOKEN_READ;
const bob = process.env.MODELYARD_TOKEN_BOB;
if (!hubUrl || !alice || !aliceRead || !bob) {
	throw new Error("set MODELYARD_URL, MODELYARD_TOKEN, MODELYARD_TOKEN_READ and MODELYARD_TOKEN_BOB");
}

/** A safetensors file: two F32 tensors, 2x3 and 4 (10 parameters). */
function tinySafetensors() {
	const header = JSON.stringify({
		__metadata__: { format: "pt" },
		"linear.weight": { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] },
		"linear.bias": { dtype: "F32", shape: [4], data_offsets: [24, 40] },
	});
	const padded = header + " ".repeat((8 - (header.length % 8)) % 8);
	const out = new Uint8Array(8 + padded.length + 40);
	new DataView(out.buffer).setBigUint64(0, BigInt(padded.length), true);
	out.set(new TextEncoder().encode(padded), 8);
	const data = new Float32Array(out.buffer, 8 + padded.length, 10);
	data.forEach((_, i) => (data[i] = i / 10));
	return out;
}

/** Deterministic, incompressible bytes (xorshift32), so that nothing deduplicates by accident. */
function pseudoRandom(size, seed) {
	const out = new Uint8Array(size);
	let x = seed >>> 0 || 1;
	for (let i = 0; i < size; i++) {
		x ^= x << 13;
		x >>>= 0;
		x ^= x >>> 17;
		x ^= x << 5;
		x >>>= 0;
		out[i] = x & 0xff;
	}
	return out;
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

async function bytesOf(blob) {
	assert.ok(blob, "downloadFile returned null");
	return new Uint8Array(await blob.arrayBuffer());
}

/** Asserts that `promise` rejects with a HubApiError of one of `statuses`; returns the error. */
async function rejectsWith(promise, statuses) {
	try {
		await promise;
	} catch (err) {
		assert.ok(err instanceof HubApiError, `expected HubApiError, got ${err}`);
		assert.ok(statuses.includes(err.statusCode), `status ${err.statusCode} (${err.message})`);
		return err;
	}
	assert.fail("expected the call to fail");
}

test("whoAmI with a plain accessToken (tokens carry the Hub's hf_ prefix)", async () => {
	assert.ok(alice.startsWith("hf_"));
	const me = await whoAmI({ hubUrl, accessToken: alice });
	assert.equal(me.name, "alice");
	assert.equal(me.type, "user");
});

for (const useXet of [false, true]) {
	const mode = useXet ? "xet" : "lfs";
	describe(`upload and read back (${mode})`, { concurrency: false }, () => {
		const name = `alice/js-${mode}-${randomUUID().slice(0, 8)}`;
		const repo = { type: "model", name };
		const readme = new TextEncoder().encode("---\nlicense: mit\n---\n# Tiny\nA model pushed from node.\n");
		const config = new TextEncoder().encode(JSON.stringify({ model_type: "tiny", hidden_size: 3 }));
		const weights = tinySafetensors();
		const big = pseudoRandom(3 * 1024 * 1024 + 17, useXet ? 7 : 11);

		test("createRepo + uploadFiles", async () => {
			await createRepo({ hubUrl, accessToken: alice, repo, private: true });
			const out = await uploadFiles({
				hubUrl,
				accessToken: alice,
				repo,
				useXet,
				commitTitle: `upload from node (${mode})`,
				files: [
					{ path: "README.md", content: new Blob([readme]) },
					{ path: "config.json", content: new Blob([config]) },
					{ path: "model.safetensors", content: new Blob([weights]) },
					{ path: "data/big.bin", content: new Blob([big]) },
				],
			});
			assert.match(out.commit.oid, /^[0-9a-f]{40}$/);
		});

		test("listFiles", async () => {
			const files = [];
			for await (const f of listFiles({ hubUrl, accessToken: alice, repo, recursive: true })) {
				files.push(f);
			}
			const byPath = Object.fromEntries(files.map((f) => [f.path, f]));
			for (const p of ["README.md", "config.json", "model.safetensors", "data/big.bin", "data"]) {
				assert.ok(byPath[p], `${p} missing from ${Object.keys(byPath)}`);
			}
			assert.equal(byPath["data"].type, "directory");
			assert.equal(byPath["data/big.bin"].type, "file");
			assert.equal(byPath["data/big.bin"].size, big.length);
			assert.equal(byPath["data/big.bin"].lfs?.oid, sha256(big));
			assert.equal(byPath["config.json"].size, config.length);
			if (useXet) {
				assert.match(byPath["data/big.bin"].xetHash ?? "", /^[0-9a-f]{64}$/, "a Xet upload has a xetHash");
			} else {
				assert.equal(byPath["data/big.bin"].xetHash, undefined, "an LFS upload has no xetHash");
			}
			const top = [];
			for await (const f of listFiles({ hubUrl, accessToken: alice, repo, path: "data" })) {
				top.push(f.path);
			}
			assert.deepEqual(top, ["data/big.bin"]);
		});

		test("fileExists", async () => {
			assert.equal(await fileExists({ hubUrl, accessToken: alice, repo, path: "config.json" }), true);
			assert.equal(await fileExists({ hubUrl, accessToken: alice, repo, path: "data/big.bin" }), true);
			assert.equal(await fileExists({ hubUrl, accessToken: aliceRead, repo, path: "README.md" }), true);
			assert.equal(await fileExists({ hubUrl, accessToken: alice, repo, path: "nope.txt" }), false);
			assert.equal(
				await fileExists({ hubUrl, accessToken: alice, repo, path: "config.json", revision: "no-such-branch" }),
				false,
			);
		});

		test("modelInfo", async () => {
			const info = await modelInfo({ hubUrl, accessToken: alice, name, additionalFields: ["sha", "filePaths"] });
			assert.equal(info.name, name);
			assert.equal(info.private, true);
			assert.ok(info.id, "modelInfo needs the repo's _id");
			assert.ok(info.updatedAt instanceof Date && !isNaN(info.updatedAt.getTime()));
			assert.match(info.sha, /^[0-9a-f]{40}$/);
			assert.deepEqual([...info.filePaths].sort(), [
				".gitattributes",
				"README.md",
				"config.json",
				"data/big.bin",
				"model.safetensors",
			]);
		});

		test("parseSafetensorsMetadata", async () => {
			const meta = await parseSafetensorsMetadata({ hubUrl, accessToken: alice, repo, computeParametersCount: true });
			assert.equal(meta.sharded, false);
			assert.deepEqual(meta.header["linear.weight"].shape, [2, 3]);
			assert.deepEqual(meta.parameterCount, { F32: 10 });
			assert.equal(meta.parameterTotal ?? 10, 10);
		});

		test("downloadFile", async () => {
			const got = await bytesOf(await downloadFile({ hubUrl, accessToken: alice, repo, path: "data/big.bin" }));
			assert.equal(got.length, big.length);
			assert.equal(sha256(got), sha256(big));
			const cfg = await bytesOf(await downloadFile({ hubUrl, accessToken: aliceRead, repo, path: "config.json" }));
			assert.deepEqual(cfg, config);
			const st = await bytesOf(await downloadFile({ hubUrl, accessToken: alice, repo, path: "model.safetensors" }));
			assert.deepEqual(st, weights);
			const slice = await (await downloadFile({ hubUrl, accessToken: alice, repo, path: "data/big.bin" }))
				.slice(1000, 1100)
				.arrayBuffer();
			assert.deepEqual(new Uint8Array(slice), big.slice(1000, 1100));
			const raw = await bytesOf(await downloadFile({ hubUrl, accessToken: alice, repo, path: "data/big.bin", raw: true }));
			assert.match(new TextDecoder().decode(raw), new RegExp(`oid sha256:${sha256(big)}`));
			assert.equal(await downloadFile({ hubUrl, accessToken: alice, repo, path: "nope.txt" }), null);
		});

		test("attacker: another user, no token, an invalid token, a read token", async () => {
			// Another user: the private repo is not found (no leak of its existence or content).
			assert.equal(await fileExists({ hubUrl, accessToken: bob, repo, path: "config.json" }), false);
			const err = await rejectsWith(downloadFile({ hubUrl, accessToken: bob, repo, path: "config.json" }), [404]);
			assert.doesNotMatch(JSON.stringify(err.data ?? {}), /tiny|hidden_size/);
			await rejectsWith(modelInfo({ hubUrl, accessToken: bob, name }), [404]);
			// (the client probes with fileExists, which sees no file, and gives up without a request for content)
			await assert.rejects(parseSafetensorsMetadata({ hubUrl, accessToken: bob, repo }), /does not seem to contain/);
			await rejectsWith(
				(async () => {
					for await (const _ of listFiles({ hubUrl, accessToken: bob, repo })) {
						// nothing may come back
					}
				})(),
				[404],
			);
			// No token: the same answers as for a stranger (401 or 404, never the content).
			assert.equal(await fileExists({ hubUrl, repo, path: "config.json" }).catch((e) => e.statusCode), false);
			await rejectsWith(downloadFile({ hubUrl, repo, path: "config.json" }), [401, 404]);
			await rejectsWith(modelInfo({ hubUrl, name }), [401, 404]);
			// An invalid token (right prefix, unknown): 401 on every call, even for a file that exists.
			const fake = "hf_" + "x".repeat(34);
			await rejectsWith(fileExists({ hubUrl, accessToken: fake, repo, path: "config.json" }), [401]);
			await rejectsWith(downloadFile({ hubUrl, accessToken: fake, repo, path: "config.json" }), [401]);
			await rejectsWith(whoAmI({ hubUrl, accessToken: fake }), [401]);
			// The client itself refuses a token without the hf_ prefix before any request.
			await assert.rejects(whoAmI({ hubUrl, accessToken: "my_abc" }), TypeError);
			// Bob cannot write to alice's repo, alice's read token cannot write either.
			for (const token of [bob, aliceRead]) {
				await rejectsWith(
					uploadFiles({
						hubUrl,
						accessToken: token,
						repo,
						useXet,
						files: [{ path: "evil.bin", content: new Blob([pseudoRandom(2048, 3)]) }],
					}),
					[401, 403, 404],
				);
			}
			assert.equal(await fileExists({ hubUrl, accessToken: alice, repo, path: "evil.bin" }), false);
		});

		test("the same bytes in another user's repo: uploaded again, not borrowed", async () => {
			const bobRepo = { type: "model", name: `bob/js-${mode}-copy-${randomUUID().slice(0, 8)}` };
			await createRepo({ hubUrl, accessToken: bob, repo: bobRepo, private: true });
			let uploadedBytes = 0;
			const fetchCounting = async (url, init) => {
				if (init?.method === "PUT" || String(url).includes("/xorbs/")) {
					uploadedBytes += init?.body?.size ?? init?.body?.byteLength ?? 0;
				}
				return fetch(url, init);
			};
			await uploadFiles({
				hubUrl,
				accessToken: bob,
				repo: bobRepo,
				useXet,
				fetch: fetchCounting,
				files: [{ path: "copy.bin", content: new Blob([big]) }],
			});
			// The server never answers "already present" for content this repo does not hold: bob had to send it
			// (Xet may deduplicate chunks against the CAS, so only the LFS path can require the full size).
			if (!useXet) {
				assert.ok(uploadedBytes >= big.length, `bob sent ${uploadedBytes} bytes`);
			}
			const got = await bytesOf(await downloadFile({ hubUrl, accessToken: bob, repo: bobRepo, path: "copy.bin" }));
			assert.equal(sha256(got), sha256(big));
			await deleteRepo({ hubUrl, accessToken: bob, repo: bobRepo });
		});

		test("deleteRepo", async () => {
			await deleteRepo({ hubUrl, accessToken: alice, repo });
			await rejectsWith(modelInfo({ hubUrl, accessToken: alice, name }), [404]);
		});
	});
}
