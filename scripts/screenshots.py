"""Make the README's MLflow UI screenshots from a real search.

Runs a small real search into its own sqlite store, starts `bridge-search ui` on
it, opens the links that `ui` prints in headless Chromium (driven by
playwright-core) and saves three pictures into --out:

- mlflow_runs_table.png: the search's runs table, its trials named by architecture;
- mlflow_runs_nested.png: the same sorted by start time, the trials nested under the search;
- mlflow_compare.png: its trials compared, parallel coordinates of
  best_val_accuracy against bridge, residual_blocks and dense_units;
- mlflow_search_run.png: the parent run's page with the result description.

Needs Debian's `chromium` (`apt-get install -y chromium`) and playwright-core from
npm (`npm install --prefix /tmp/pw playwright-core`; `npx playwright install`
is not needed, the system Chromium is used):

    NODE_PATH=/tmp/pw/node_modules python scripts/screenshots.py --out docs
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINKS = {"table": "Trials of this search (runs table)", "compare": "Compare its trials",
         "parent": "The search's result (parent run)"}

# One page per picture; the compare view's plot axes are chosen as a user would.
DRIVER = r"""
const { chromium } = require('playwright-core');
const [table, nested, compare, parent, out] = process.argv.slice(2);
(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM,
                                          args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  async function open(url, text) {
    await page.goto(url);
    await page.getByText(text).first().waitFor({ timeout: 120000 });
    // The "MLflow Assistant" side panel takes a third of the page and says nothing here.
    const close = page.locator('button[aria-label="Close"], button[aria-label="close"]');
    if (await close.count()) await close.first().click().catch(() => {});
    await page.waitForTimeout(2000);
  }
  async function openTable(url) {
    await open(url, 'matching runs');
    await page.waitForFunction(() => /[1-9][0-9]* matching runs/.test(document.body.innerText),
                               null, { timeout: 120000 });
    await page.waitForTimeout(1000);
  }
  await openTable(table);
  await page.screenshot({ path: `${out}/mlflow_runs_table.png` });
  // Sorted by start time the trials nest under the search's row: expand it.
  await openTable(nested);
  await page.locator('button[data-component-id$="runnamecellrenderer.tsx_46"]').first().click();
  await page.waitForTimeout(2000);
  await page.screenshot({ path: `${out}/mlflow_runs_nested.png` });

  await open(compare, 'Parallel Coordinates Plot');
  await page.getByRole('button', { name: 'Clear All' }).click();
  const selects = page.locator('.du-bois-light-select');
  async function choose(index, names) {
    for (const name of names) {
      const input = selects.nth(index).locator('input');
      await input.click();
      await input.fill(name);
      await page.keyboard.press('Enter');
      await page.keyboard.press('Escape');
    }
  }
  await choose(0, ['bridge', 'residual_blocks', 'dense_units']);
  await choose(1, ['best_val_accuracy']);
  await page.locator('.js-plotly-plot .parcoords').first().waitFor({ timeout: 120000 });
  await page.waitForTimeout(3000);
  await page.screenshot({ path: `${out}/mlflow_compare.png` });

  await open(parent, 'Description');
  const more = page.getByText('Show more');
  if (await more.count()) await more.first().click();
  await page.waitForTimeout(1000);
  await page.screenshot({ path: `${out}/mlflow_search_run.png` });
  await browser.close();
})().catch((error) => { console.error(error); process.exit(1); });
"""


def main():
    args = parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="screenshots-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{work}/store/mlflow.db"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    search = [sys.executable, "-m", "search", "run", "--space", args.space,
              "--max-epochs", str(args.max_epochs), "--factor", str(args.factor),
              "--seed", str(args.seed), "--retrain", "none", "--experiment", args.experiment,
              "--tracking-uri", uri, "--project-dir", str(work / "project"),
              "--export-dir", str(work / "export"), "--overwrite"]
    if not args.reuse:
        print("search:", " ".join(search[2:]), flush=True)
        subprocess.run(search, env=env, check=True, cwd=work)
    port = free_port()
    log = work / "ui.log"
    with open(log, "wb") as log_file:
        ui = subprocess.Popen([sys.executable, "-m", "search", "ui", "--tracking-uri", uri,
                               "--experiment", args.experiment, "--port", str(port)],
                              env=env, stdout=log_file, stderr=subprocess.STDOUT,
                              start_new_session=True, cwd=work)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", ui)
        urls = printed_links(log.read_text())
        out = Path(args.out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        (work / "driver.js").write_text(DRIVER)
        nested = urls["table"].replace("metrics.%60best_val_accuracy%60", "attributes.start_time")
        subprocess.run(["node", str(work / "driver.js"), urls["table"], nested, urls["compare"],
                        urls["parent"], str(out)], check=True, timeout=600,
                       env={**env, "CHROMIUM": shutil.which("chromium") or "/usr/bin/chromium"})
        print(f"screenshots written to {out}")
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs"))
    parser.add_argument("--work", default=None, help="folder for the store (default: a temp one)")
    parser.add_argument("--experiment", default="digits-demo")
    parser.add_argument("--space", default="bridge")  # the default space: every axis varies
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true",
                        help="take the pictures of the search already in --work")
    return parser.parse_args()


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"bridge-search ui exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"{url} did not answer within {timeout} s")


def printed_links(output):
    urls = {key: re.search(rf"{re.escape(label)}: (\S+)", output) for key, label in LINKS.items()}
    missing = [LINKS[key] for key, match in urls.items() if match is None]
    if missing:
        sys.exit(f"bridge-search ui printed no link for {missing}:\n{output}")
    return {key: match.group(1) for key, match in urls.items()}


if __name__ == "__main__":
    main()
