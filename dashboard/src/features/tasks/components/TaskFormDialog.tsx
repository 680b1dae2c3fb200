// Create or edit a task. Validation is the server's: its message (and field) is shown as is.
import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { Dialog } from '@/components/Dialog';
import { ErrorMessage } from '@/components/ErrorMessage';
import { PRIORITIES, type LandPolicy, type Priority, type Task } from '@/lib/types';
import { useCreateTask } from '../api/create-task';
import { useUpdateTask } from '../api/update-task';
import { DependencyPicker, type PickedTask } from './DependencyPicker';

const CATEGORIES = ['feature', 'bug', 'docs', 'research', 'test', 'refactor', 'planning'];

interface Props {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  /** Present when editing. */
  task?: Task;
  /** Labels for the task's current dependencies, when known. */
  dependencyLabels?: Map<number, string>;
}

export function TaskFormDialog(props: Props) {
  // Remount the form whenever the dialog opens so it starts from the task's current values.
  return (
    <Dialog open={props.open} onOpenChange={props.onOpenChange} title={props.task ? `Edit ${props.task.display_id}` : 'New task'}>
      {props.open ? <TaskForm {...props} /> : null}
    </Dialog>
  );
}

function TaskForm({ task, onOpenChange, dependencyLabels }: Props) {
  const navigate = useNavigate();
  const [title, setTitle] = useState(task?.title ?? '');
  const [description, setDescription] = useState(task?.description ?? '');
  const [category, setCategory] = useState(task?.category ?? 'feature');
  const [priority, setPriority] = useState<Priority>(task?.priority ?? 'P2');
  const [criteria, setCriteria] = useState((task?.pass_criteria ?? []).join('\n'));
  const [deps, setDeps] = useState<PickedTask[]>(
    (task?.depends_on ?? []).map((id) => ({ id, label: dependencyLabels?.get(id) ?? `#${id}` })),
  );
  // '' is the role's landing policy (the task sets none).
  const currentLand = task?.land ?? '';
  const [land, setLand] = useState<LandPolicy | ''>(currentLand);
  const create = useCreateTask();
  const update = useUpdateTask(task?.id ?? 0);
  const mutation = task ? update : create;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = {
      title,
      description,
      category,
      priority,
      pass_criteria: criteria.split('\n').map((s) => s.trim()).filter(Boolean),
      depends_on: deps.map((d) => d.id),
      // Sent only when chosen (new task) or changed (edit): null gives the task back to its role's policy.
      ...(land !== currentLand ? { land: land || null } : {}),
    };
    if (task) update.mutate(body, { onSuccess: () => onOpenChange(false) });
    else
      create.mutate(body, {
        onSuccess: () => {
          onOpenChange(false);
          void navigate('/tasks');
        },
      });
  };

  return (
    <form onSubmit={submit} className="form">
      <label>
        Title
        <input value={title} onChange={(e) => setTitle(e.target.value)} required autoFocus />
      </label>
      <label>
        Description
        <textarea value={description} onChange={(e) => setDescription(e.target.value)} rows={4} />
      </label>
      <div className="row">
        <label>
          Category
          <input value={category} onChange={(e) => setCategory(e.target.value)} list="task-categories" />
          <datalist id="task-categories">
            {CATEGORIES.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        </label>
        <label>
          Priority
          <select value={priority} onChange={(e) => setPriority(e.target.value as Priority)}>
            {PRIORITIES.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
      </div>
      <label>
        Landing
        <select value={land} onChange={(e) => setLand(e.target.value as LandPolicy | '')}>
          <option value="">As its role says</option>
          <option value="auto">Land automatically once verified</option>
          <option value="review">Wait for my review before landing</option>
          <option value="pull_request">Open a pull request on the forge</option>
        </select>
      </label>
      <label>
        Pass criteria (one per line)
        <textarea value={criteria} onChange={(e) => setCriteria(e.target.value)} rows={3} />
      </label>
      <DependencyPicker value={deps} onChange={setDeps} excludeId={task?.id} />
      <ErrorMessage error={mutation.error} title={task ? 'Could not save the task' : 'Could not create the task'} />
      <div className="actions">
        <button type="button" onClick={() => onOpenChange(false)}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={mutation.isPending}>
          {task ? 'Save' : 'Create task'}
        </button>
      </div>
    </form>
  );
}
