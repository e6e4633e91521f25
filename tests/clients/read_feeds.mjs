// Reads each feed file named on the command line with the npm parsers people use and prints,
// per file, what each parser saw (or the error it gave), as one JSON object.
import { readFileSync } from "node:fs";
import Parser from "rss-parser";
import { extractFromJson, extractFromXml } from "@extractus/feed-extractor";

const out = {};
for (const path of process.argv.slice(2)) {
  const text = readFileSync(path, "utf8");
  const seen = {};
  if (path.endsWith(".json")) {
    try {
      const feed = extractFromJson(JSON.parse(text));
      seen["feed-extractor"] = { title: feed.title, items: feed.entries.map((e) => e.title) };
    } catch (err) {
      seen["feed-extractor"] = { error: String(err) };
    }
  } else {
    try {
      const feed = await new Parser().parseString(text);
      seen["rss-parser"] = {
        title: feed.title,
        items: feed.items.map((i) => i.title),
        links: feed.items.map((i) => i.link),
        dates: feed.items.map((i) => i.isoDate || null),
      };
    } catch (err) {
      seen["rss-parser"] = { error: String(err) };
    }
    try {
      const feed = extractFromXml(text);
      seen["feed-extractor"] = { title: feed.title, items: (feed.entries || []).map((e) => e.title) };
    } catch (err) {
      seen["feed-extractor"] = { error: String(err) };
    }
  }
  out[path] = seen;
}
process.stdout.write(JSON.stringify(out));
