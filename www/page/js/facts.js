/* Field notes page: the sidebar's list of facts. */
"use strict";
(function () {
	const list = document.getElementById("facts");
	window.FIELD_NOTES.facts.forEach(function (text) {
		const li = document.createElement("li");
		li.textContent = text;
		list.appendChild(li);
	});
})();
