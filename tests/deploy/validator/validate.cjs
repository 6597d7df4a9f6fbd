// Checks rendered Kubernetes documents against their API schemas, offline, in two passes:
//
// 1. kubernetes-models' validators (the OpenAPI schemas of Kubernetes and of the Prometheus
//    Operator CRDs, compiled with ajv): types, required fields, enums and formats such as
//    quantities and durations. They accept unknown fields, as a lenient API server would.
// 2. tsc over the same documents typed with the models' declarations: an object literal with a
//    field its type does not declare is an error, so a misspelt key (`readinesProbe`) fails here
//    the way `kubectl apply --validate=strict` would fail on the cluster.
//
// PyTorchJob has no published schema package: kubeflow.d.ts declares it, and its pod templates
// go through pass 1 as PodTemplateSpecs.
//
// Usage: node validate.cjs RENDERED.json, where RENDERED.json is [{source, documents: [...]}].
// Prints one line per problem, prefixed with the source and the document's kind/name.
"use strict";

const fs = require("fs");
const path = require("path");
const ts = require("typescript");

// apiVersion -> [module with the runtime models, directory of the type declarations]
const GROUPS = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "policy/v1": "kubernetes-models/policy/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};
const PYTORCHJOB = "kubeflow.org/v1/PyTorchJob";

function label(doc) {
  return `${doc.kind}/${(doc.metadata && doc.metadata.name) || "?"}`;
}

function runtimeModel(doc) {
  const module = GROUPS[doc.apiVersion];
  if (!module) return null;
  const model = require(module)[doc.kind];
  // Group modules also export nested types (PodTemplateSpec...): only top-level kinds count.
  if (!model || model.apiVersion !== doc.apiVersion || model.kind !== doc.kind) return null;
  return model;
}

function validateRuntime(source, doc, problems) {
  const where = `${source}: ${label(doc)}`;
  try {
    if (`${doc.apiVersion}/${doc.kind}` === PYTORCHJOB) {
      const { PodTemplateSpec } = require("kubernetes-models/v1");
      const specs = (doc.spec && doc.spec.pytorchReplicaSpecs) || {};
      for (const [type, spec] of Object.entries(specs)) {
        try {
          new PodTemplateSpec(spec.template || {}).validate();
        } catch (error) {
          problems.push(`${where}: pytorchReplicaSpecs.${type}.template: ${error.message}`);
        }
      }
      return true;
    }
    const Model = runtimeModel(doc);
    if (!Model) return false;
    new Model(doc).validate();
  } catch (error) {
    problems.push(`${where}: ${error.message}`);
  }
  return true;
}

function declaredType(doc) {
  if (`${doc.apiVersion}/${doc.kind}` === PYTORCHJOB) {
    return `import(${JSON.stringify(path.join(__dirname, "kubeflow"))}).IPyTorchJob`;
  }
  return `import(${JSON.stringify(`${GROUPS[doc.apiVersion]}/${doc.kind}`)}).I${doc.kind}`;
}

// One declaration per document, pretty-printed so that a diagnostic's line points at the field.
function typeCheck(entries, problems) {
  const lines = [];
  const owners = [];  // line index -> "source: Kind/name"
  entries.forEach(({ source, doc }, index) => {
    const text = `export const doc${index}: ${declaredType(doc)} = ${JSON.stringify(doc, null, 2)};`;
    for (const line of text.split("\n")) {
      lines.push(line);
      owners.push(`${source}: ${label(doc)}`);
    }
  });
  const file = path.join(__dirname, ".rendered.ts");
  fs.writeFileSync(file, lines.join("\n") + "\n");
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
  });
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, " ");
    if (!diagnostic.file || diagnostic.file.fileName !== file) {
      problems.push(`type declarations: ${message}`);
      continue;
    }
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    problems.push(`${owners[line]}: ${lines[line].trim()} -> ${message}`);
  }
  fs.unlinkSync(file);
}

function main() {
  const rendered = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const problems = [];
  const entries = [];
  for (const { source, documents } of rendered) {
    for (const doc of documents) {
      if (!validateRuntime(source, doc, problems)) {
        problems.push(`${source}: ${label(doc)}: no schema for ${doc.apiVersion} ${doc.kind}`);
        continue;
      }
      entries.push({ source, doc });
    }
  }
  typeCheck(entries, problems);
  for (const problem of problems) console.log(problem);
  console.log(`validate: ${entries.length} documents, ${problems.length} problems`);
  process.exit(problems.length === 0 ? 0 : 1);
}

main();
