// Write an Azurite (3.35.0) LokiJS blob database holding N containers, before Azurite starts.
//
//   node azurite_seed.js LOKIJS_MODULE_DIR DB_FILE ACCOUNT COUNT PREFIX
//
// The collection name, its indices and the document shape are Azurite's own
// (dist/src/blob/persistence/LokiBlobMetadataStore.js: init() and createContainer()); Azurite
// adds its other collections when it loads the file. Names are PREFIX + zero-padded index, so
// inserting in index order keeps the binary indices appends.
"use strict";
const [lokiDir, dbFile, account, countText, prefix] = process.argv.slice(2);
const Loki = require(lokiDir);
const count = Number.parseInt(countText, 10);
if (!Number.isInteger(count) || count < 0) {
  console.error(`azurite_seed: bad count ${countText}`);
  process.exit(2);
}
const width = String(Math.max(count - 1, 0)).length;
const db = new Loki(dbFile, { persistenceMethod: "fs", autosave: false });
const coll = db.addCollection("$CONTAINERS_COLLECTION$", { indices: ["accountName", "name"] });
const base = Date.UTC(2024, 0, 1);
const docs = [];
for (let i = 0; i < count; i++) {
  const modified = new Date(base + i * 1000);
  docs.push({
    accountName: account,
    name: prefix + String(i).padStart(width, "0"),
    properties: {
      etag: `"0x${(0x1d000000000000 + i).toString(16).toUpperCase()}"`,
      lastModified: modified.toISOString(),
      leaseStatus: "unlocked",
      leaseState: "available",
      hasImmutabilityPolicy: false,
      hasLegalHold: false,
    },
  });
}
coll.insert(docs);
db.saveDatabase((err) => {
  if (err) {
    console.error(`azurite_seed: ${err}`);
    process.exit(1);
  }
  console.log(`azurite_seed: ${count} containers in ${dbFile}`);
});
