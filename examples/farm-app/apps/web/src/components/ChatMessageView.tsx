import type { ChatMessage } from '../api/client';

export function ChatMessageView({ message }: { message: ChatMessage }) {
  return (
    <div className={`chat-message chat-message--${message.role}`}>
      <span className="chat-message__role">{message.role === 'user' ? 'You' : 'Assistant'}</span>
      <p>{message.content}</p>
    </div>
  );
}
