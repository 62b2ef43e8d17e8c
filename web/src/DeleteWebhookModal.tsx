import { Alert, Button, Modal, Typography } from 'antd';
import { useState } from 'react';
import type { Webhook } from './api';
import { useSignedIn } from './session';

interface DeleteWebhookModalProps {
  webhook: Webhook;
  onClose(): void;
  onDeleted(webhook: Webhook): void;
}

/** Asks before deleting: the webhook, its history and its pending deliveries go together. */
export function DeleteWebhookModal({ webhook, onClose, onDeleted }: DeleteWebhookModalProps) {
  const { api } = useSignedIn();
  const [deleting, setDeleting] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  const remove = async () => {
    setDeleting(true);
    setProblem(null);
    try {
      await api.deleteWebhook(webhook.id);
      onDeleted(webhook);
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
      setDeleting(false);
    }
  };

  return (
    <Modal
      open
      title="Delete webhook"
      onCancel={onClose}
      footer={[
        <Button key="cancel" onClick={onClose} disabled={deleting}>
          Cancel
        </Button>,
        <Button key="delete" type="primary" danger onClick={remove} loading={deleting}>
          Delete webhook
        </Button>,
      ]}
    >
      <Typography.Paragraph>
        Delete the webhook for <Typography.Text strong className="break-anywhere">{webhook.url}</Typography.Text>
        {webhook.name ? <> ({webhook.name})</> : null}? Herald stops sending it events at once, and its event
        history and pending deliveries are removed with it.
      </Typography.Paragraph>
      {problem && <Alert type="error" showIcon title={problem} />}
    </Modal>
  );
}
