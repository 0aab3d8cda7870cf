// The entry point TensorBoard loads in the actlog tab's frame: it calls render().

import { App } from "./app.js";
import { ServerSource } from "./source.js";

export async function render() {
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = new URL("./style.css", import.meta.url).href;
  document.head.append(style);
  const app = new App(document.body, new ServerSource(""));
  window.actlogView = app;
  await app.start();
}
