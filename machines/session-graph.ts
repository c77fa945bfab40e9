import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { type SessionMachine, sessionMachine } from './session.machine.js';
import { SESSION_STATUSES_ORDER, type SessionStatus } from './session-view.js';

/** The statechart as the API shows it: the visible statuses and the steps between them. */
export interface SessionGraph {
  states: SessionStatus[];
  initial: SessionStatus;
  /** One edge per (from, to), with every event that takes it. */
  edges: { from: SessionStatus; to: SessionStatus; events: string[] }[];
}

const ORDER = SESSION_STATUSES_ORDER;

/** The visible status of a state node: the most specific status name on its path. */
function statusOf(node: AnyStateNode): SessionStatus | null {
  for (let n: AnyStateNode | undefined = node; n; n = n.parent) {
    if ((ORDER as string[]).includes(n.key)) return n.key as SessionStatus;
  }
  return null;
}

/** Where entering `node` lands: down its initial children to a leaf. */
function landing(node: AnyStateNode): AnyStateNode {
  let n = node;
  while (n.type === 'compound' && n.initial?.target?.[0]) n = n.initial.target[0];
  return n;
}

function leaves(node: AnyStateNode): AnyStateNode[] {
  const children = Object.values(node.states) as AnyStateNode[];
  return children.length === 0 ? [node] : children.flatMap(leaves);
}

function eventLabel(type: string): string {
  if (type.startsWith('xstate.after.'))
    return type.includes('retryDelay') ? 'after retryDelay' : 'after delay';
  return type;
}

/**
 * Derives the status graph from a session machine definition: every transition of every state
 * node (a parent's transitions apply to each leaf under it), mapped onto the six statuses.
 */
export function sessionGraph(machine: AnyStateMachine = sessionMachine as SessionMachine): SessionGraph {
  const edges = new Map<string, { from: SessionStatus; to: SessionStatus; events: Set<string> }>();
  const visit = (node: AnyStateNode) => {
    for (const [type, definitions] of node.transitions) {
      for (const definition of definitions) {
        for (const target of definition.target ?? []) {
          const to = statusOf(landing(target));
          if (!to) continue;
          for (const leaf of leaves(node)) {
            const from = statusOf(leaf);
            if (!from || from === to) continue;
            const key = `${from}>${to}`;
            const edge = edges.get(key) ?? { from, to, events: new Set<string>() };
            edge.events.add(eventLabel(type));
            edges.set(key, edge);
          }
        }
      }
    }
    for (const child of Object.values(node.states) as AnyStateNode[]) visit(child);
  };
  visit(machine.root);
  const initial = statusOf(landing(machine.root)) ?? 'idle';
  return {
    states: [...ORDER],
    initial,
    edges: [...edges.values()]
      .map((e) => ({ from: e.from, to: e.to, events: [...e.events].sort() }))
      .sort(
        (a, b) => ORDER.indexOf(a.from) - ORDER.indexOf(b.from) || ORDER.indexOf(a.to) - ORDER.indexOf(b.to),
      ),
  };
}
