import { Alert, Button, Modal, Typography } from 'antd';
import { useRef, useState } from 'react';

interface GeneratedSecretModalProps {
  secret: string;
  onDone(): void;
}

/**
 * The one time a secret is ever shown: Herald generated it for a new webhook, returned it in
 * that answer only, and keeps no copy it would hand out again.
 */
export function GeneratedSecretModal({ secret, onDone }: GeneratedSecretModalProps) {
  const code = useRef<HTMLElement>(null);
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('yes');
    } catch {
      // The clipboard API needs a secure context (https or localhost); select the text instead
      // so a keyboard copy takes it.
      selectText(code.current);
      setCopied(document.execCommand?.('copy') ? 'yes' : 'failed');
    }
  };

  return (
    <Modal
      open
      title="Webhook secret"
      onCancel={onDone}
      mask={{ closable: false }}
      keyboard={false}
      footer={[
        <Button key="copy" onClick={copy}>
          Copy secret
        </Button>,
        <Button key="done" type="primary" onClick={onDone}>
          Done
        </Button>,
      ]}
    >
      <Typography.Paragraph>
        Herald generated this secret for the new webhook. Receivers use it to check the signature
        headers of every request.
      </Typography.Paragraph>
      <pre className="secret-block">
        <code ref={code}>{secret}</code>
      </pre>
      <Alert type="warning" showIcon title="Copy it now: it will not be shown again." />
      {copied && (
        <Typography.Paragraph className="copy-status" aria-live="polite">
          {copied === 'yes' ? 'Copied to the clipboard.' : 'Copying failed: select the secret and copy it by hand.'}
        </Typography.Paragraph>
      )}
    </Modal>
  );
}

function selectText(element: HTMLElement | null): void {
  if (!element) return;
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection?.removeAllRanges();
  selection?.addRange(range);
}
