// 信用查询: the public credit-lookup page. Talks to /graphql as the public role, through
// persisted queries only (the documents live on the server; the page sends their hashes).
// Every value is written with textContent: nothing from the server becomes markup.

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";

let hashes = null;

async function persisted() {
  if (!hashes) {
    const res = await fetch("/page/queries.json", { headers: { Accept: "application/json" } });
    if (!res.ok) throw new ServiceError(res.status);
    hashes = await res.json();
  }
  return hashes;
}

class ServiceError extends Error {
  constructor(status) {
    super(`service ${status}`);
    this.status = status;
  }
}

async function call(operationName, variables) {
  const known = await persisted();
  const res = await fetch("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({
      operationName,
      variables,
      extensions: { persistedQuery: { version: 1, sha256Hash: known[operationName] } },
    }),
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    throw new ServiceError(res.status);
  }
  if (!res.ok || (body.errors && !body.data)) throw new ServiceError(res.status);
  return body.data;
}

/** What a person types: full-width forms folded, spaces dropped (the server standardises too). */
export function cleanQuery(text) {
  return text.normalize("NFKC").replace(/\s+/g, "").trim();
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function failed(err) {
  if (err instanceof ServiceError || err instanceof TypeError) {
    say("服务暂时不可用，请稍后再试。", true);
  } else {
    say("出现了意外错误，请稍后再试。", true);
  }
}

// -- suggestions as you type (combobox + listbox) --------------------------------------------
let suggestTimer = 0;
let suggestSeq = 0;
let active = -1;

function closeSuggestions() {
  const list = $("suggestions");
  list.hidden = true;
  list.replaceChildren();
  $("q").setAttribute("aria-expanded", "false");
  $("q").removeAttribute("aria-activedescendant");
  active = -1;
}

function highlight(index) {
  const items = [...$("suggestions").children];
  if (!items.length) return;
  active = (index + items.length) % items.length;
  items.forEach((li, i) => li.setAttribute("aria-selected", i === active ? "true" : "false"));
  $("q").setAttribute("aria-activedescendant", items[active].id);
  items[active].scrollIntoView({ block: "nearest" });
}

async function suggest() {
  const text = cleanQuery($("q").value);
  if (text.length < 2) {
    closeSuggestions();
    return;
  }
  const seq = ++suggestSeq;
  let data;
  try {
    data = await call("PublicSuggest", { text, first: 8 });
  } catch {
    closeSuggestions();
    return;
  }
  if (seq !== suggestSeq) return; // a newer keystroke won
  const list = $("suggestions");
  list.replaceChildren();
  const nodes = (data.search?.edges ?? []).map((e) => e.node);
  nodes.forEach((n, i) => {
    const li = el("li");
    li.id = `sugg-${i}`;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.append(el("span", n.name));
    if (n.uscc) li.append(el("span", n.uscc, "code"));
    li.addEventListener("mousedown", (ev) => {
      ev.preventDefault();
      closeSuggestions();
      $("q").value = n.name;
      showProfile(n.uid);
    });
    li.dataset.uid = n.uid;
    li.dataset.name = n.name;
    list.append(li);
  });
  list.hidden = nodes.length === 0;
  $("q").setAttribute("aria-expanded", nodes.length ? "true" : "false");
  active = -1;
}

// -- results ---------------------------------------------------------------------------------
async function search(text) {
  closeSuggestions();
  $("profile").hidden = true;
  say("正在查询…");
  let data;
  try {
    data = await call("PublicSearch", { text, first: 20 });
  } catch (err) {
    $("results").hidden = true;
    failed(err);
    return;
  }
  const conn = data.search ?? { edges: [], totalCount: 0 };
  const list = $("results-list");
  list.replaceChildren();
  if (!conn.edges.length) {
    $("results").hidden = true;
    say(`未找到与“${text}”相符的企业。请检查名称或统一社会信用代码后重试。`);
    return;
  }
  for (const { node } of conn.edges) {
    const li = el("li");
    const btn = el("button", node.name, "link");
    btn.type = "button";
    btn.addEventListener("click", () => showProfile(node.uid));
    li.append(btn);
    const meta = [node.uscc, node.registrationStatus, node.address].filter(Boolean).join(" · ");
    if (meta) li.append(el("span", meta, "meta"));
    list.append(li);
  }
  $("results-count").textContent = `共 ${conn.totalCount} 家企业`;
  $("results").hidden = false;
  say("");
  if (conn.edges.length === 1) showProfile(conn.edges[0].node.uid);
}

// -- profile ---------------------------------------------------------------------------------
const GRADE_MEANING = {
  A: "信用良好",
  B: "信用较好",
  C: "信用一般：存在失信记录",
  D: "信用较差：存在严重失信记录",
};

function period(from, until) {
  if (from && until) return `${from} 至 ${until}`;
  if (from) return `${from} 起`;
  if (until) return `至 ${until}`;
  return "";
}

function listOrEmpty(ul, items, render, emptyText) {
  ul.replaceChildren();
  if (!items.length) {
    ul.append(el("li", emptyText, "empty"));
    return;
  }
  for (const item of items) ul.append(render(item));
}

function renderFacts(e) {
  const dl = $("facts");
  dl.replaceChildren();
  const rows = [
    ["统一社会信用代码", e.uscc],
    ["法定代表人", e.legalRepresentative?.name],
    ["登记机关", e.registrationAuthority],
    ["登记状态", e.registrationStatus],
    ["成立日期", e.established],
    ["住所", e.address],
  ];
  for (const [label, value] of rows) {
    dl.append(el("dt", label), el("dd", value || "—"));
  }
}

function renderGrade(profile) {
  const grade = $("grade");
  const g = profile?.grade ?? "";
  grade.textContent = g || "—";
  grade.dataset.grade = g;
  grade.setAttribute("aria-label", g ? `信用等级 ${g}` : "暂无信用等级");
  $("grade-meaning").textContent = GRADE_MEANING[g] ?? "暂无信用等级";
  $("grade-score").textContent =
    profile?.score !== undefined && profile?.score !== null ? `信用分 ${profile.score}` : "";
  const lines = $("grade-lines");
  lines.replaceChildren();
  for (const line of profile?.explanation ?? []) {
    const li = el("li");
    const pts = Number(line.points);
    li.append(el("span", pts > 0 ? `+${pts}` : String(pts), "pts"), el("span", line.reason));
    lines.append(li);
  }
  $("grade-explain").hidden = !(profile?.explanation ?? []).length;
}

function renderRelations(e) {
  const box = $("relations");
  box.replaceChildren();
  const rep = e.legalRepresentative?.name ? [{ name: e.legalRepresentative.name, label: "法定代表人" }] : [];
  const holders = (e.shareholders ?? []).slice(0, 6).map((s) => ({
    name: s.name,
    label: s.ratio !== null && s.ratio !== undefined ? `持股 ${(s.ratio * 100).toFixed(1)}%` : "股东",
  }));
  const branches = (e.branches ?? []).slice(0, 6).map((b) => ({ name: b.name, label: "分支机构" }));
  const parent = e.parent ? [{ name: e.parent.name, label: "总公司" }] : [];
  const around = [...rep, ...parent, ...holders, ...branches];
  if (!around.length) {
    box.append(el("p", "暂无可公开的关联关系。", "empty"));
    return;
  }
  const width = 720;
  const rowH = 56;
  const height = Math.max(3, around.length) * rowH + 20;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute(
    "aria-label",
    `关系图：${e.name}` + around.map((n) => `，${n.label} ${n.name}`).join(""),
  );
  const cx = 170;
  const cy = height / 2;
  around.forEach((n, i) => {
    const y = 20 + i * rowH + rowH / 2 - 10;
    const line = document.createElementNS(SVG_NS, "line");
    line.setAttribute("x1", String(cx + 150));
    line.setAttribute("y1", String(cy));
    line.setAttribute("x2", "420");
    line.setAttribute("y2", String(y));
    svg.append(line);
    svg.append(box_(420, y - 18, 290, 36, n.name, "node"));
    const lab = document.createElementNS(SVG_NS, "text");
    lab.setAttribute("x", "345");
    lab.setAttribute("y", String((cy + y) / 2 - 4));
    lab.setAttribute("class", "edge-label");
    lab.textContent = n.label;
    svg.append(lab);
  });
  svg.append(box_(20, cy - 24, 300, 48, e.name, "node-main"));
  box.append(svg);
}

function box_(x, y, w, h, text, cls) {
  const g = document.createElementNS(SVG_NS, "g");
  g.setAttribute("class", cls);
  const r = document.createElementNS(SVG_NS, "rect");
  r.setAttribute("x", String(x));
  r.setAttribute("y", String(y));
  r.setAttribute("width", String(w));
  r.setAttribute("height", String(h));
  r.setAttribute("rx", "6");
  const t = document.createElementNS(SVG_NS, "text");
  t.setAttribute("x", String(x + 10));
  t.setAttribute("y", String(y + h / 2 + 5));
  const max = Math.floor((w - 20) / 13);
  t.textContent = text.length > max ? `${text.slice(0, max - 1)}…` : text;
  g.append(r, t);
  return g;
}

async function showProfile(uid) {
  closeSuggestions();
  say("正在载入…");
  let data;
  try {
    data = await call("PublicProfile", { uid });
  } catch (err) {
    failed(err);
    return;
  }
  const e = data.enterprise;
  if (!e) {
    say("未找到该企业，可能已注销合并。请重新查询。");
    return;
  }
  $("profile-name").textContent = e.name;
  const former = e.formerNames ?? [];
  $("profile-former").textContent = former.length ? `曾用名：${former.join("、")}` : "";
  const profile = e.creditProfile ?? {};
  renderGrade(profile);
  listOrEmpty(
    $("warnings"),
    profile.blackLists ?? [],
    (m) => {
      const li = el("li");
      li.append(el("strong", m.listName ?? m.listType));
      const bits = [m.basis && `依据：${m.basis}`, m.authority && `认定机关：${m.authority}`, period(m.from, m.until) && `期限：${period(m.from, m.until)}`];
      li.append(el("div", bits.filter(Boolean).join("；")));
      return li;
    },
    "无失信惩戒记录",
  );
  listOrEmpty(
    $("redlists"),
    profile.redLists ?? [],
    (m) => el("li", [m.listName ?? m.listType, m.authority, period(m.from, m.until)].filter(Boolean).join(" · ")),
    "暂无守信激励记录",
  );
  renderFacts(e);
  listOrEmpty(
    $("penalties"),
    profile.penalties ?? [],
    (p) => {
      const li = el("li");
      li.append(el("strong", [p.decisionNo, p.date].filter(Boolean).join("　")));
      li.append(el("div", [p.authority, p.description].filter(Boolean).join("：")));
      if (p.publicityUntil) li.append(el("div", `公示至 ${p.publicityUntil}`, "meta"));
      return li;
    },
    "公示期内无行政处罚",
  );
  renderRelations(e);
  $("profile").hidden = false;
  say("");
  $("profile-name").setAttribute("tabindex", "-1");
  $("profile-name").focus();
}

// -- wiring ----------------------------------------------------------------------------------
function init() {
  const q = $("q");
  q.addEventListener("input", () => {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(suggest, 200);
  });
  q.addEventListener("keydown", (ev) => {
    const open = !$("suggestions").hidden;
    if (ev.key === "ArrowDown" && open) {
      ev.preventDefault();
      highlight(active + 1);
    } else if (ev.key === "ArrowUp" && open) {
      ev.preventDefault();
      highlight(active - 1);
    } else if (ev.key === "Escape") {
      closeSuggestions();
    } else if (ev.key === "Enter" && open && active >= 0) {
      ev.preventDefault();
      const li = $("suggestions").children[active];
      q.value = li.dataset.name;
      showProfile(li.dataset.uid);
    }
  });
  q.addEventListener("blur", () => setTimeout(closeSuggestions, 150));
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = cleanQuery(q.value);
    if (!text) {
      say("请输入企业名称或统一社会信用代码。", true);
      q.focus();
      return;
    }
    search(text);
  });
}

init();
