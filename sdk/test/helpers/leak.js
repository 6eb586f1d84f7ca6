'use strict';
// Whether a value typed into a page shows up in what the SDK sent (request URLs, headers, bodies).
//
// Text is looked for as is. Digits alone are looked for as a token of their own: timestamps,
// durations, coordinates and ids contain any short run of digits by chance (two CI runs failed on
// such matches), while a leaked value stands next to text, spaces or quotes.

function leaks(sent, typed) {
  if (!/^[0-9]+$/.test(typed)) return sent.includes(typed);
  return new RegExp(`(?<![0-9a-fA-F.-])${typed}(?![0-9a-fA-F.-])`).test(sent);
}

module.exports = { leaks };
