import { useState } from 'react';
import { ApiError } from '../../api/client';
import { endpoints, type StartRunBody } from '../../api/endpoints';
import { taskClasses } from '../../api/types';
import { ChoiceField } from '../../components/ChoiceField';
import { navigate } from '../../router';

/**
 * Starts a run on a simulated model (the console is for operating Palyra, not for chatting): the same
 * POST /v1/runs a service makes, optionally with summary tasks, then opens the run to follow it.
 */
export function StartRunForm() {
  const [form, setForm] = useState({
    tenantId: 'demo',
    principalId: 'console',
    model: '',
    taskClass: 'primary_interactive',
    prompt: "Summarise today's incidents.",
    outputTokens: '40',
    chunkDelayMs: '25',
    tasks: '0',
    taskChunkDelayMs: '25',
  });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const set = (key: keyof typeof form) => (event: { target: { value: string } }) =>
    setForm({ ...form, [key]: event.target.value });
  const countField = (key: 'outputTokens' | 'chunkDelayMs' | 'tasks' | 'taskChunkDelayMs', label: string, max: number) => (
    <label className="field">
      {label}
      <input name={key} type="number" min={0} max={max} value={form[key]} onChange={set(key)} />
    </label>
  );

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    const simulation = { outputTokens: Number(form.outputTokens || 0), chunkDelayMs: Number(form.chunkDelayMs || 0) };
    const taskCount = Math.max(0, Math.min(20, Number(form.tasks || 0)));
    const body: StartRunBody = {
      tenantId: form.tenantId.trim(),
      principalId: form.principalId.trim(),
      messages: [{ role: 'user', content: form.prompt }],
      taskClass: form.taskClass,
      simulation,
      ...(form.model.trim() ? { model: form.model.trim() } : {}),
      ...(taskCount > 0
        ? {
            backgroundTasks: Array.from({ length: taskCount }, (_, i) => ({
              kind: 'summary' as const,
              input: { text: `${form.prompt} (task ${i + 1})` },
              simulation: { outputTokens: simulation.outputTokens, chunkDelayMs: Number(form.taskChunkDelayMs || 0) },
            })),
            maxConcurrentChildren: 1,
          }
        : {}),
    };
    try {
      const started = await endpoints.startRun(body);
      navigate(`/runs/${started.runId}`);
    } catch (caught) {
      setError(caught instanceof ApiError ? `${caught.code}: ${caught.message}` : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <details className="card start-run">
      <summary>Start a simulated run</summary>
      <form
        aria-label="Start a simulated run"
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <div className="form-grid">
          <label className="field">
            Tenant
            <input name="tenantId" required value={form.tenantId} onChange={set('tenantId')} />
          </label>
          <label className="field">
            Principal
            <input name="principalId" required value={form.principalId} onChange={set('principalId')} />
          </label>
          <label className="field">
            Model (empty: routing decides)
            <input name="model" value={form.model} onChange={set('model')} />
          </label>
          <ChoiceField
            label="Task class"
            name="taskClass"
            value={form.taskClass}
            choices={taskClasses}
            onChange={set('taskClass')}
          />
          {countField('outputTokens', 'Output tokens', 100000)}
          {countField('chunkDelayMs', 'Delay per token (ms)', 60000)}
          {countField('tasks', 'Summary tasks (one at a time)', 20)}
          {countField('taskChunkDelayMs', 'Task delay per token (ms)', 60000)}
          <label className="field wide">
            Prompt
            <textarea name="prompt" required rows={2} value={form.prompt} onChange={set('prompt')} />
          </label>
        </div>
        {error ? (
          <p className="notice notice-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Starting…' : 'Start run'}
        </button>
      </form>
    </details>
  );
}
