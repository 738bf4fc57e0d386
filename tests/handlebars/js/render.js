// Renders a batch of templates with Handlebars.js, as Butler does, for qbutler's differential tests.
// stdin: JSON {contexts: [...], cases: [{template, context (an index into contexts), mode}]}, mode "html" (Handlebars as is), "json" (every mustache,
// {{x}} and {{{x}}} alike, escaped as the inside of a JSON string: qbutler's JSON templates) or
// "text" (escapeExpression without the entities). stdout: JSON [{output} | {error}].
'use strict';
const Handlebars = require('handlebars');

// Handlebars' log helper writes to the console; keep stdout for the results.
for (const method of ['log', 'info', 'debug', 'warn', 'error']) {
  console[method] = (...args) => process.stderr.write(args.join(' ') + '\n');
}

// Butler's one helper (lib/... registerHelper('eq', ...)): strict equality.
Handlebars.registerHelper('eq', (a, b) => a === b);

const htmlEscape = Handlebars.Utils.escapeExpression;
function textEscape(value) {
  if (typeof value !== 'string') {
    if (value && value.toHTML) return value.toHTML();
    if (value == null) return '';
    return value + '';
  }
  return value;
}
function jsonEscape(value) {
  if (typeof value !== 'string') {
    if (value && value.toHTML) return value.toHTML();
    if (value == null) return '';
    if (!value) return value + '';
    value = '' + value;
  }
  return JSON.stringify(value).slice(1, -1);
}

function escapeEveryMustache(node) {
  if (!node || typeof node !== 'object') return;
  if (node.type === 'MustacheStatement') node.escaped = true;
  for (const key of Object.keys(node)) {
    if (key !== 'loc') escapeEveryMustache(node[key]);
  }
}

function render({ template, context, mode }) {
  if (mode === 'text' || mode === 'json') {
    const ast = Handlebars.parse(template);
    if (mode === 'json') escapeEveryMustache(ast);
    Handlebars.Utils.escapeExpression = mode === 'json' ? jsonEscape : textEscape;
    try {
      return Handlebars.compile(ast)(context);
    } finally {
      Handlebars.Utils.escapeExpression = htmlEscape;
    }
  }
  return Handlebars.compile(template)(context);
}

const { contexts, cases } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const results = cases.map((item) => {
  try {
    return { output: render({ ...item, context: contexts[item.context] }) };
  } catch (error) {
    return { error: String(error && error.message ? error.message : error) };
  }
});
process.stdout.write(JSON.stringify(results));
