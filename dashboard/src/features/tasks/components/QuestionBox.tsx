// The agent asked a person something; the task waits until it is answered here.
import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '@/components/ErrorMessage';
import { useAnswerQuestion } from '../api/answer-question';

export function QuestionBox({ taskId, question }: { taskId: number; question: string }) {
  const [answer, setAnswer] = useState('');
  const send = useAnswerQuestion(taskId);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    send.mutate(answer.trim(), { onSuccess: () => setAnswer('') });
  };
  return (
    <section aria-labelledby="q-h" className="card question">
      <h2 id="q-h">Question waiting for an answer</h2>
      <p className="prewrap">{question}</p>
      <form onSubmit={submit}>
        <label htmlFor={`answer-${taskId}`}>Your answer</label>
        <textarea id={`answer-${taskId}`} value={answer} onChange={(e) => setAnswer(e.target.value)} rows={3} required />
        <ErrorMessage error={send.error} title="Answer not sent" />
        <button type="submit" className="primary" disabled={send.isPending || !answer.trim()}>
          Send answer
        </button>
      </form>
    </section>
  );
}
