/* Field notes page: captions for the pictures; a click makes one twice as wide. */
"use strict";
(function () {
	const data = window.FIELD_NOTES;
	document.querySelectorAll("#gallery figure").forEach(function (fig, i) {
		const cap = fig.querySelector("figcaption");
		cap.textContent = data.places[i % data.places.length] + " at " +
			data.times[i % data.times.length];
		fig.querySelector("img").alt = cap.textContent;
		fig.addEventListener("click", function () {
			fig.classList.toggle("wide");
		});
	});
})();
