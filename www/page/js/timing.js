/* Field notes page: this load's own Navigation Timing, in words. */
"use strict";
(function () {
	function show() {
		const nav = performance.getEntriesByType("navigation")[0];
		const p = document.getElementById("timing");
		p.textContent = "Load time: " + nav.loadEventEnd.toFixed(0) +
			" ms from navigation start to the end of the load event" +
			" (DOMContentLoaded at " + nav.domContentLoadedEventEnd.toFixed(0) + " ms," +
			" document over " + (nav.nextHopProtocol || "?") + ").";
	}

	/* loadEventEnd is set once the load handlers have returned: read it a task later. */
	window.addEventListener("load", function () { setTimeout(show, 0); });
})();
