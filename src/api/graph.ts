/**
 * Turns the steps given to addStep into a DAG and checks it before anything is stored:
 * dependencies name existing steps unambiguously, and there is no cycle. Steps without
 * `dependsOn` follow the step added before them, as in DeFlow.
 */
import type { DependencyCondition, StepDependency } from '../backends/records.js';
import { WorkflowDefinitionError } from '../errors.js';

export interface GraphNode {
  /** Name known before loading the step's module (explicit, or the handler's); undefined otherwise. */
  name: string | undefined;
  dependsOn: string[] | undefined;
  when: DependencyCondition;
}

/** Step ids of a workflow's declared steps: "1", "2", ... in declaration order. */
export function declaredStepId(index: number): string {
  return String(index + 1);
}

export function planDependencies(workflowName: string, nodes: readonly GraphNode[]): StepDependency[][] {
  const byName = new Map<string, number[]>();
  nodes.forEach((node, index) => {
    if (node.name === undefined) return;
    byName.set(node.name, [...(byName.get(node.name) ?? []), index]);
  });
  const known = [...byName.keys()].map((n) => JSON.stringify(n)).join(', ') || 'none';

  const deps = nodes.map((node, index): StepDependency[] => {
    if (node.dependsOn === undefined) {
      return index === 0 ? [] : [{ stepId: declaredStepId(index - 1), on: node.when }];
    }
    return node.dependsOn.map((parentName) => {
      const matches = byName.get(parentName);
      const label = node.name === undefined ? `step #${index + 1}` : `step "${node.name}"`;
      if (matches === undefined) {
        throw new WorkflowDefinitionError(
          `workflow "${workflowName}": ${label} depends on unknown step "${parentName}". Known step names: ${known}. ` +
            'A step given as import() or a module path needs an explicit `name` to be depended on.',
        );
      }
      if (matches.length > 1) {
        throw new WorkflowDefinitionError(
          `workflow "${workflowName}": ${label} depends on "${parentName}", but ${matches.length} steps have that name; ` +
            'give them distinct `name`s',
        );
      }
      const parent = matches[0] as number;
      if (parent === index) throw new WorkflowDefinitionError(`workflow "${workflowName}": ${label} depends on itself`);
      return { stepId: declaredStepId(parent), on: node.when };
    });
  });
  assertAcyclic(workflowName, nodes, deps);
  return deps;
}

function assertAcyclic(workflowName: string, nodes: readonly GraphNode[], deps: StepDependency[][]): void {
  const indexOf = (stepId: string): number => Number(stepId) - 1;
  const remaining = deps.map((d) => d.length);
  const children = nodes.map(() => [] as number[]);
  deps.forEach((list, child) => {
    for (const dep of list) children[indexOf(dep.stepId)]?.push(child);
  });
  const ready = remaining.flatMap((count, index) => (count === 0 ? [index] : []));
  let visited = 0;
  while (ready.length > 0) {
    const next = ready.pop() as number;
    visited++;
    for (const child of children[next] ?? []) {
      remaining[child] = (remaining[child] ?? 0) - 1;
      if (remaining[child] === 0) ready.push(child);
    }
  }
  if (visited < nodes.length) {
    const inCycle = remaining.flatMap((count, index) => (count > 0 ? [nodes[index]?.name ?? `#${index + 1}`] : []));
    throw new WorkflowDefinitionError(
      `workflow "${workflowName}" has a dependency cycle among steps ${inCycle.map((n) => JSON.stringify(n)).join(', ')}; ` +
        'a step cannot (directly or indirectly) depend on itself',
    );
  }
}
