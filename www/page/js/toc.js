/* Field notes page: the "On this page" list, from the headings of <main>. */
"use strict";
(function () {
	const toc = document.getElementById("toc");
	document.querySelectorAll("main h2").forEach(function (h, i) {
		if (!h.id)
			h.id = "section-" + (i + 1);
		const li = document.createElement("li");
		const a = document.createElement("a");
		a.href = "#" + h.id;
		a.textContent = h.textContent;
		li.appendChild(a);
		toc.appendChild(li);
	});
})();
