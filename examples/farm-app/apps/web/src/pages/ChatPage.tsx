import { useRef, useState, type FormEvent } from 'react';
import { ApiError, api, type ChatMessage } from '../api/client';
import { ChatMessageView } from '../components/ChatMessageView';
import { useAsync } from '../hooks/useAsync';

// Loaded with React.lazy (see App.tsx), so this page is its own chunk.
export default function ChatPage() {
  const models = useAsync((signal) => api.listModels(signal), []);
  const [model, setModel] = useState('');
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [draft, setDraft] = useState('');
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const abortRef = useRef<AbortController | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const content = draft.trim();
    if (!content || pending) return;
    const conversation: ChatMessage[] = [...messages, { role: 'user', content }];
    setMessages(conversation);
    setDraft('');
    setPending(true);
    setError(null);
    abortRef.current = new AbortController();
    try {
      const reply = await api.chat({ messages: conversation, model: model || undefined }, abortRef.current.signal);
      setMessages([...conversation, reply.message]);
    } catch (e) {
      if (e instanceof ApiError && e.status === 503) {
        setError(`The AI service is unavailable. ${e.message}`);
      } else if (!(e instanceof DOMException && e.name === 'AbortError')) {
        setError(e instanceof Error ? e.message : String(e));
      }
    } finally {
      setPending(false);
      abortRef.current = null;
    }
  }

  return (
    <section className="chat">
      <h1>AI Chat</h1>
      <label className="inline-field">
        Model
        <select value={model} onChange={(e) => setModel(e.target.value)}>
          <option value="">Server default</option>
          {models.state.status === 'ready' &&
            models.state.data.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
              </option>
            ))}
        </select>
        {models.state.status === 'error' && <span className="muted">(models unavailable)</span>}
      </label>
      <div className="chat__log" aria-live="polite">
        {messages.length === 0 && <p className="muted">Ask something to start the conversation.</p>}
        {messages.map((message, index) => (
          <ChatMessageView key={index} message={message} />
        ))}
        {pending && <p className="muted">Thinking…</p>}
      </div>
      {error && (
        <p className="status status--error" role="alert">
          {error}
        </p>
      )}
      <form className="chat__form" onSubmit={onSubmit}>
        <input value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Type a message" />
        {pending ? (
          <button type="button" onClick={() => abortRef.current?.abort()}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!draft.trim()}>
            Send
          </button>
        )}
      </form>
    </section>
  );
}
