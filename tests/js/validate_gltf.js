// Khronos' glTF validator on one file; prints its issue summary as JSON. Usage: node validate_gltf.js FILE
const fs = require("fs");
const path = require("path");
const validator = require(process.env.GLTF_VALIDATOR || "gltf-validator");

const file = process.argv[2];
validator
  .validateBytes(new Uint8Array(fs.readFileSync(file)), { uri: path.basename(file), maxIssues: 100 })
  .then((report) => {
    console.log(JSON.stringify({ issues: report.issues, info: report.info }));
  })
  .catch((error) => {
    console.error(String(error));
    process.exit(1);
  });
