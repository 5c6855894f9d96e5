/* Field notes page: the footer says what was loaded and when. */
"use strict";
(function () {
	const counts = {
		img: document.images.length,
		script: document.scripts.length,
		css: document.querySelectorAll("link[rel=stylesheet]").length,
	};
	document.getElementById("footer").textContent = "Served by kahttpd. " +
		counts.img + " images, " + counts.script + " scripts, " + counts.css +
		" stylesheets; rendered " + new Date().toISOString().slice(0, 19).replace("T", " ") +
		" UTC.";
})();
