// Drives the facerecon web app in headless Chromium: upload a photo, wait for the 3D viewer and the
// downloads, save a screenshot. Usage: node web_app.js URL PHOTO SCREENSHOT. Prints a JSON report.
const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");

const [url, photo, screenshot] = process.argv.slice(2);
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const report = {};
  try {
    await page.goto(url, { waitUntil: "domcontentloaded" });
    await page.locator("#photo").waitFor({ timeout: 60000 });
    await page.locator("#photo input[type=file]").setInputFiles(photo);
    await page.waitForTimeout(1000);
    await page.locator("#run").click();
    await page.locator("#viewer canvas").first().waitFor({ timeout: 180000 });
    await page.locator("#downloads a").nth(2).waitFor({ timeout: 60000 });
    report.downloads = await page.locator("#downloads a").evaluateAll((links) =>
      links.map((a) => ({ text: a.textContent.trim(), href: a.href })));
    report.status = (await page.locator("#status").innerText()).trim();
    await page.waitForTimeout(2000); // let the viewer draw
    await page.screenshot({ path: screenshot, fullPage: true });
  } catch (error) {
    report.error = String(error);
    await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  }
  await browser.close();
  console.log(JSON.stringify(report));
})();
