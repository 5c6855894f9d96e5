/* Field notes page: the "What this page is made of" table, from the browser's
 * Resource Timing entries once every resource has loaded. */
"use strict";
(function () {
	const kinds = [
		["images", /\.(png|svg|jpe?g|gif|webp)$/],
		["scripts", /\.js$/],
		["stylesheets", /\.css$/],
	];

	function median(xs) {
		if (!xs.length)
			return 0;
		const s = xs.slice().sort(function (a, b) { return a - b; });
		const m = s.length >> 1;
		return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
	}

	function cell(row, text) {
		const td = document.createElement("td");
		td.textContent = text;
		row.appendChild(td);
	}

	function fill() {
		const nav = performance.getEntriesByType("navigation")[0];
		const rows = [["document", [nav]]];
		const entries = performance.getEntriesByType("resource");
		kinds.forEach(function (k) {
			rows.push([k[0], entries.filter(function (e) {
				return k[1].test(new URL(e.name).pathname);
			})]);
		});
		const body = document.querySelector("#resources tbody");
		body.textContent = "";
		let total = 0, bytes = 0;
		rows.forEach(function (r) {
			const tr = document.createElement("tr");
			const size = r[1].reduce(function (s, e) { return s + e.encodedBodySize; }, 0);
			cell(tr, r[0]);
			cell(tr, String(r[1].length));
			cell(tr, size.toLocaleString("en"));
			cell(tr, median(r[1].map(function (e) {
				return e.responseEnd - e.startTime;
			})).toFixed(0) + " ms");
			body.appendChild(tr);
			total += r[1].length;
			bytes += size;
		});
		const foot = document.createElement("tfoot");
		const tr = document.createElement("tr");
		cell(tr, "total");
		cell(tr, String(total));
		cell(tr, bytes.toLocaleString("en"));
		cell(tr, "");
		foot.appendChild(tr);
		document.getElementById("resources").appendChild(foot);
	}

	/* After the load event, so that every entry has its responseEnd. */
	window.addEventListener("load", function () { setTimeout(fill, 0); });
})();
