// One page load in Debian's chromium, driven by playwright-core (which downloads no
// browser here: executablePath is /usr/bin/chromium). Prints one JSON object on stdout:
// every request the page made with its status or failure, the page's Navigation Timing,
// and what its scripts rendered.
//
//   node load.cjs --url URL --profile DIR [--screenshot PNG] [--timeout-ms N]
//
// Each run starts a new chromium with a new, empty profile directory (--user-data-dir):
// no HTTP cache, no learned preconnects, no history. The HTTP cache is also switched
// off through the DevTools protocol, so every resource is really requested.
//
// An https:// URL is loaded with ignoreHTTPSErrors: the test certificate is
// self-signed (tests/browser/pageload.py makes it), and chromium is to accept it.
//
// Runs on Debian 12's node 18 as on node 20 (playwright-core 1.60 supports both).
'use strict';
const { chromium } = require('playwright-core');

function parseArgs(argv) {
	const args = { timeoutMs: 60000 };
	for (let i = 0; i < argv.length; i += 2) {
		const [name, value] = [argv[i], argv[i + 1]];
		if (value === undefined)
			throw new Error(`${name}: missing value`);
		if (name === '--url') args.url = value;
		else if (name === '--profile') args.profile = value;
		else if (name === '--screenshot') args.screenshot = value;
		else if (name === '--timeout-ms') args.timeoutMs = Number(value);
		else throw new Error(`unknown option ${name}`);
	}
	if (!args.url || !args.profile)
		throw new Error('usage: load.cjs --url URL --profile DIR [--screenshot PNG] [--timeout-ms N]');
	return args;
}

async function main() {
	const args = parseArgs(process.argv.slice(2));
	const context = await chromium.launchPersistentContext(args.profile, {
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--no-first-run',
			...(args.url.startsWith('https:') ? ['--ignore-certificate-errors'] : [])],
		viewport: { width: 1280, height: 900 },
		timeout: args.timeoutMs,
	});
	const result = { requests: [], console_errors: [] };
	try {
		const page = context.pages()[0] || await context.newPage();
		const cdp = await context.newCDPSession(page);
		await cdp.send('Network.enable');
		await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });

		const pending = [];
		page.on('requestfinished', (req) => pending.push((async () => {
			const resp = await req.response();
			result.requests.push({ url: req.url(), type: req.resourceType(),
				status: resp ? resp.status() : null, failure: null });
		})()));
		page.on('requestfailed', (req) => {
			result.requests.push({ url: req.url(), type: req.resourceType(), status: null,
				failure: req.failure() ? req.failure().errorText : 'failed' });
		});
		page.on('console', (msg) => {
			if (msg.type() === 'error')
				result.console_errors.push(msg.text());
		});
		page.on('pageerror', (err) => result.console_errors.push(String(err)));

		await page.goto(args.url, { waitUntil: 'load', timeout: args.timeoutMs });
		// The page's own scripts finish a task after the load event: wait for their output.
		await page.waitForFunction(() => {
			const nav = performance.getEntriesByType('navigation')[0];
			return nav && nav.loadEventEnd > 0 && document.querySelector('#resources tfoot') &&
				/^Load time: \d/.test(document.getElementById('timing').textContent);
		}, null, { timeout: args.timeoutMs });
		await Promise.all(pending);

		result.navigation = await page.evaluate(() => {
			const nav = performance.getEntriesByType('navigation')[0].toJSON();
			return { startTime: nav.startTime, responseStart: nav.responseStart,
				domContentLoadedEventEnd: nav.domContentLoadedEventEnd,
				loadEventStart: nav.loadEventStart, loadEventEnd: nav.loadEventEnd,
				nextHopProtocol: nav.nextHopProtocol };
		});
		result.load_time_ms = result.navigation.loadEventEnd - result.navigation.startTime;
		result.resource_timing = await page.evaluate(() => performance.getEntriesByType('resource')
			.map((e) => ({ name: e.name, startTime: e.startTime, connectStart: e.connectStart,
				connectEnd: e.connectEnd, requestStart: e.requestStart,
				responseStart: e.responseStart, responseEnd: e.responseEnd })));
		result.rendered = await page.evaluate(() => ({
			images: document.images.length,
			images_drawn: Array.from(document.images).filter((i) => i.complete && i.naturalWidth > 0).length,
			scripts: document.scripts.length,
			stylesheets: document.styleSheets.length,
			stylesheet_rules: Array.from(document.styleSheets).reduce((n, s) => n + s.cssRules.length, 0),
			captions: Array.from(document.querySelectorAll('#gallery figcaption'))
				.filter((c) => c.textContent.trim()).length,
			toc_items: document.querySelectorAll('#toc li').length,
			facts: document.querySelectorAll('#facts li').length,
			table_rows: document.querySelectorAll('#resources tbody tr').length,
			table_total: (document.querySelector('#resources tfoot td:nth-child(2)') || {}).textContent,
			timing_text: document.getElementById('timing').textContent,
			footer: document.getElementById('footer').textContent,
			layout_columns: getComputedStyle(document.querySelector('.layout')).gridTemplateColumns,
		}));
		if (args.screenshot)
			await page.screenshot({ path: args.screenshot, fullPage: true });
	} finally {
		await context.close();
	}
	process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err) => {
	process.stderr.write(`load.cjs: ${err.stack || err}\n`);
	process.exit(1);
});
