// Prints "<passed> <failed>" from a vitest JSON report. A test file that failed to load (no
// assertions ran) counts as one failure, so a broken suite can never look green.
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync(process.argv[2], "utf8"));
const brokenFiles = report.testResults.filter((file) => file.status === "failed" && file.assertionResults.length === 0);
console.log(`${report.numPassedTests} ${report.numFailedTests + brokenFiles.length}`);
