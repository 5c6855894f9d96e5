/* Field notes page: the words the other scripts put on the page. */
"use strict";
window.FIELD_NOTES = {
	places: [
		"Harbour", "Ridge", "Meadow", "Estuary", "Quarry", "Orchard",
		"Headland", "Marsh", "Pass", "Terrace", "Dunes", "Weir",
		"Moor", "Cove", "Spur", "Fen", "Scree", "Glen",
		"Delta", "Plateau", "Shoal", "Vale", "Bluff", "Tarn",
	],
	times: ["dawn", "noon", "dusk", "late light"],
	facts: [
		"HTTP/1.1 connections persist unless a side sends Connection: close.",
		"HTTP/1.0 persists only when asked with Connection: keep-alive and the length is known.",
		"Browsers open about six connections per host and reuse each of them.",
		"Without keep-alive every request pays a TCP handshake: one more round trip.",
		"The side that closes first keeps the TIME_WAIT socket.",
		"TCP keepalive is a different thing: kernel probes of a silent peer.",
	],
};
