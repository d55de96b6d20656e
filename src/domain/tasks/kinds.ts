import type { ChatMessage } from '../chat';
import type { TaskClass } from '../routing';

export const taskKinds = ['summary', 'extraction', 'classification', 'delegated_run'] as const;
export type TaskKind = (typeof taskKinds)[number];

/** What each kind of task works on. Auxiliary kinds take text; a delegated run takes a conversation. */
export type TaskInput =
  | { kind: 'summary'; input: { text: string; maxWords?: number } }
  | { kind: 'extraction'; input: { text: string; fields: string[] } }
  | { kind: 'classification'; input: { text: string; labels: string[] } }
  | { kind: 'delegated_run'; input: { messages: ChatMessage[]; taskClass?: TaskClass } };

/**
 * The routing task class of a task: side work is auxiliary (so routing never picks a model dearer
 * than the default for it); a delegated run is background automation unless it says otherwise.
 */
export function taskClassOf(task: TaskInput): TaskClass {
  switch (task.kind) {
    case 'summary':
      return 'auxiliary_summary';
    case 'extraction':
      return 'auxiliary_extraction';
    case 'classification':
      return 'auxiliary_classification';
    case 'delegated_run':
      return task.input.taskClass ?? 'background_automation';
  }
}

/** Extraction answers in JSON, so routing must pick a model that can. */
export function taskNeedsJson(task: TaskInput): boolean {
  return task.kind === 'extraction';
}

/** The conversation sent to the model for a task. */
export function taskMessages(task: TaskInput): ChatMessage[] {
  switch (task.kind) {
    case 'summary':
      return [
        {
          role: 'system',
          content:
            'Summarize the user text faithfully and concisely' +
            (task.input.maxWords ? ` in at most ${task.input.maxWords} words.` : '.'),
        },
        { role: 'user', content: task.input.text },
      ];
    case 'extraction':
      return [
        {
          role: 'system',
          content:
            `Extract these fields from the user text and answer with one JSON object with exactly these keys: ` +
            `${task.input.fields.map((field) => JSON.stringify(field)).join(', ')}. Use null for a field the text does not give.`,
        },
        { role: 'user', content: task.input.text },
      ];
    case 'classification':
      return [
        {
          role: 'system',
          content:
            `Classify the user text into exactly one of these labels and answer with the label only: ` +
            `${task.input.labels.map((label) => JSON.stringify(label)).join(', ')}.`,
        },
        { role: 'user', content: task.input.text },
      ];
    case 'delegated_run':
      return task.input.messages;
  }
}

/** A scheduling field that cannot work, with the field it concerns (relative to the task). */
export interface TaskTimingProblem {
  field: 'notBefore' | 'expiresAt';
  message: string;
}

/**
 * Timing a task can never satisfy: an `expiresAt` already past (it would expire unstarted), or a
 * `notBefore` at or after `expiresAt` (it could never start in time). Time is a parameter.
 */
export function taskTimingProblems(timing: { notBeforeMs?: number; expiresAtMs?: number }, nowMs: number): TaskTimingProblem[] {
  const problems: TaskTimingProblem[] = [];
  if (timing.expiresAtMs !== undefined && timing.expiresAtMs <= nowMs) {
    problems.push({
      field: 'expiresAt',
      message: `expiresAt ${new Date(timing.expiresAtMs).toISOString()} is not in the future (now ${new Date(nowMs).toISOString()})`,
    });
  }
  if (timing.notBeforeMs !== undefined && timing.expiresAtMs !== undefined && timing.notBeforeMs >= timing.expiresAtMs) {
    problems.push({
      field: 'notBefore',
      message:
        `notBefore ${new Date(timing.notBeforeMs).toISOString()} is not before expiresAt ` +
        `${new Date(timing.expiresAtMs).toISOString()}: the task could never start in time`,
    });
  }
  return problems;
}
