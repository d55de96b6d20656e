// The operations console talks only to the HTTP API, with the token the operator enters.
// The token is kept in sessionStorage: it lives as long as the tab, never in a cookie.
'use strict';

const $ = (id) => document.getElementById(id);
const tokenKey = 'palyra.token';

function token() {
  return sessionStorage.getItem(tokenKey) || '';
}

function say(text, isError) {
  $('message').textContent = text;
  $('message').className = isError ? 'error' : '';
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token()}` };
  if (body) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const data = await response.json().catch(() => ({}));
  if (!response.ok && response.status !== 503) {
    const error = data.error || { code: String(response.status), message: response.statusText };
    throw new Error(`${error.code}: ${error.message}`);
  }
  return data;
}

function row(cells, header) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement(header ? 'th' : 'td');
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell === undefined || cell === null ? '—' : String(cell);
    tr.append(td);
  }
  return tr;
}

async function refreshReadiness() {
  const table = $('readiness');
  table.replaceChildren(row(['check', 'status', 'detail'], true));
  try {
    const readiness = await api('GET', '/readyz');
    for (const [name, check] of Object.entries(readiness.checks || {})) {
      const status = document.createElement('span');
      status.textContent = check.ok ? 'ok' : 'failing';
      status.className = check.ok ? 'ok' : 'bad';
      table.append(row([name, status, check.message]));
    }
  } catch (error) {
    say(error.message, true);
  }
}

function renderRun(run) {
  const container = $('run');
  const table = document.createElement('table');
  let temporalLink = run.temporal?.workflowId;
  if (run.temporal?.uiUrl) {
    temporalLink = document.createElement('a');
    temporalLink.href = run.temporal.uiUrl;
    temporalLink.target = '_blank';
    temporalLink.rel = 'noopener';
    temporalLink.textContent = `${run.temporal.workflowId} in the Temporal UI`;
  }
  const usage = run.usage
    ? `${run.usage.inputTokens} in / ${run.usage.outputTokens} out${run.usage.estimated ? ' (estimated)' : ''}`
    : null;
  table.append(
    row(['run', run.runId]),
    row(['state', run.state]),
    row(['tenant / principal', `${run.tenantId} / ${run.principalId}`]),
    row(['model', `${run.model.selected}${run.model.requested ? ` (requested ${run.model.requested})` : ''}`]),
    row(['usage', usage]),
    row(['cost (µUSD)', run.costMicroUsd]),
    row(['created', run.createdAt]),
    row(['finished', run.finishedAt]),
    row(['error', run.error ? `${run.error.code}: ${run.error.message}` : null]),
    row(['workflow', temporalLink]),
  );
  const output = document.createElement('pre');
  output.textContent = run.output || '';
  container.replaceChildren(table, output);
}

async function lookUp(runId) {
  const run = await api('GET', `/v1/runs/${encodeURIComponent(runId)}`);
  renderRun(run);
  return run;
}

async function follow(runId) {
  for (let i = 0; i < 600; i++) {
    const run = await lookUp(runId);
    if (['succeeded', 'failed', 'cancelled', 'denied'].includes(run.state)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('token').value = token();
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(tokenKey, $('token').value.trim());
    say('Token set for this tab.');
  });
  $('refresh-readiness').addEventListener('click', () => void refreshReadiness());
  $('lookup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    lookUp($('run-id').value.trim()).then(
      () => say(''),
      (error) => say(error.message, true),
    );
  });
  $('start-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const body = {
      tenantId: $('tenant').value.trim(),
      principalId: $('principal').value.trim(),
      messages: [{ role: 'user', content: $('prompt').value }],
      simulation: { outputTokens: Number($('output-tokens').value || 0), chunkDelayMs: 25 },
    };
    if ($('model').value.trim()) body.model = $('model').value.trim();
    api('POST', '/v1/runs', body).then(
      (started) => {
        $('run-id').value = started.runId;
        say(`Run ${started.runId} started on ${started.model.selected}.`);
        return follow(started.runId);
      },
      (error) => say(error.message, true),
    );
  });
  void refreshReadiness();
});
